/**
 * WitnessLog: one Durable Object per log origin (idFromName(origin)). It keeps the latest
 * checkpoint it cosigned for that origin (size, root, and the note with the log's signatures and
 * its own cosignature) and nothing else; it cosigns a submission only if it is consistent with it.
 *
 * Never two roots for one size: `addCheckpoint` runs without an await, so it reads the latest
 * checkpoint, checks the submission against it, signs and stores the new one in one synchronous
 * step. No other request to this origin runs in between (a Durable Object runs one event at a
 * time, and a synchronous method gives it no point to interleave at), which is the atomicity
 * c2sp.org/tlog-witness asks for ("checking the old size … and persisting the new checkpoint must
 * be performed atomically").
 */
import { DurableObject } from "cloudflare:workers";
import { toBase64 } from "../core/bytes";
import { cosign } from "../core/cosignature";
import { formatAddCheckpoint } from "../core/tlog-witness";
import { decide, type Latest, type VerifiedSubmission } from "./add-checkpoint";
import { configOf, type WitnessVars } from "./config";
import type { WitnessError } from "./errors";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS latest (
  origin TEXT PRIMARY KEY,
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  note TEXT NOT NULL,
  cosigned_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  origin TEXT NOT NULL,
  at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  request TEXT NOT NULL
);
`;
/** How long the stored cosignature answers a resubmission of the same checkpoint, instead of a new one. */
export const REPLAY_WINDOW_SECONDS = 60;
/** Refused, validly signed submissions kept as evidence of possible log misbehavior (the newest). */
export const REFUSED_KEPT = 32;

export type AddOutcome = { ok: true; cosignatures: string } | { ok: false; error: WitnessError };

export interface LatestView {
  size: number;
  root: string;
  /** The checkpoint with the log's verified signatures and the witness's cosignature. */
  note: string;
  cosigned_at: number;
}

export interface RefusedView {
  at: number;
  reason: string;
  /** The submission: old size, proof and the checkpoint's verified text and log signatures. */
  request: string;
}

export class WitnessLog extends DurableObject<WitnessVars> {
  constructor(ctx: DurableObjectState, env: WitnessVars) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA);
  }

  #latest(origin: string): (Latest & { note: string; body: string; cosigned_at: number }) | undefined {
    const row = this.ctx.storage.sql
      .exec<{ size: number; root: ArrayBuffer; note: string; cosigned_at: number }>(
        "SELECT size, root, note, cosigned_at FROM latest WHERE origin = ?",
        origin,
      )
      .toArray()[0];
    // The note is "<checkpoint text>\n<signature lines>": its text is what precedes the last blank line.
    const body = row ? row.note.slice(0, row.note.lastIndexOf("\n\n") + 1) : "";
    return row && { size: row.size, root: new Uint8Array(row.root), note: row.note, body, cosigned_at: row.cosigned_at };
  }

  /** add-checkpoint after the Worker's checks (add-checkpoint.ts `checkRequest`). Synchronous on purpose: see above. */
  addCheckpoint(sub: VerifiedSubmission): AddOutcome {
    const config = configOf(this.env);
    if (!config.ok) return { ok: false, error: { reason: "misconfigured", detail: config.error } };
    const latest = this.#latest(sub.origin);
    const decision = decide(latest, sub);
    if (!decision.ok) {
      if (decision.error.reason === "inconsistent") this.#keepRefused(sub, decision.error.detail);
      return decision;
    }
    // tlog-witness: the timestamp MUST NOT be zero; POSIX seconds.
    const now = Math.max(1, Math.floor(Date.now() / 1000));
    // The same checkpoint again, soon after: the stored cosignature answers (still true, with its
    // own timestamp), so replaying a valid checkpoint costs no signature (ML-DSA-44 is the
    // costliest step) and no write.
    if (latest && latest.body === sub.body && now - latest.cosigned_at < REPLAY_WINDOW_SECONDS) {
      return { ok: true, cosignatures: latest.note.slice(latest.note.lastIndexOf("\n", latest.note.length - 2) + 1) };
    }
    const line = cosign(config.value.cosigner, sub.body, now);
    if (!line.ok) return { ok: false, error: { reason: "malformed_request", detail: line.error.reason } };
    const note = `${sub.body}\n${sub.logSignatures}${line.value}`;
    // Durable point: this write is in the same synchronous step as the check above. The response
    // leaves only once it is stored (the output gate); a crash before that loses the write and the
    // response together, so the client retries and no cosignature exists for an unstored size.
    this.ctx.storage.sql.exec(
      `INSERT INTO latest (origin, size, root, note, cosigned_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root, note = excluded.note,
         cosigned_at = excluded.cosigned_at`,
      sub.origin,
      sub.size,
      sub.root,
      note,
      now,
    );
    return { ok: true, cosignatures: line.value };
  }

  /** The latest cosigned checkpoint (tlog-witness "Monitor Retrieval Mechanism"), if any. */
  latest(origin: string): LatestView | null {
    const row = this.#latest(origin);
    return row ? { size: row.size, root: toBase64(row.root), note: row.note, cosigned_at: row.cosigned_at } : null;
  }

  /** Refused, validly signed submissions (newest first): evidence a log showed inconsistent views. */
  refused(origin: string): RefusedView[] {
    return this.ctx.storage.sql
      .exec<{ at: number; reason: string; request: string }>(
        "SELECT at, reason, request FROM refused WHERE origin = ? ORDER BY id DESC",
        origin,
      )
      .toArray();
  }

  #keepRefused(sub: VerifiedSubmission, reason: string): void {
    const request = formatAddCheckpoint({ oldSize: sub.oldSize, proof: sub.proof, checkpoint: `${sub.body}\n${sub.logSignatures}` });
    // Durable point: evidence only; losing it in a crash loses nothing the protocol needs.
    this.ctx.storage.sql.exec(
      "INSERT INTO refused (origin, at, reason, request) VALUES (?, ?, ?, ?)",
      sub.origin,
      Date.now(),
      reason,
      request,
    );
    this.ctx.storage.sql.exec(
      "DELETE FROM refused WHERE origin = ? AND id NOT IN (SELECT id FROM refused WHERE origin = ? ORDER BY id DESC LIMIT ?)",
      sub.origin,
      sub.origin,
      REFUSED_KEPT,
    );
  }
}
