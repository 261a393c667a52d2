/**
 * `sealtrail monitor`: polls a log's checkpoint (c2sp.org/tlog-tiles), checks its signature, its
 * witness cosignatures (c2sp.org/tlog-cosignature, a quorum of k), and that it extends the last
 * checkpoint this monitor stored on disk (a consistency proof built from hash tiles). Optionally
 * it reads the new entries (bundles, each checked against its leaf hash) and reports those that
 * match a rule. On a fork, an inconsistent checkpoint or a missing quorum it stops with a non-zero
 * exit code and leaves evidence files anyone can re-check: both checkpoints, the proof, the tiles.
 *
 * State (`--state <dir>`): `checkpoint` (the last good one, as served) and `state.json`
 * (`next_entry`: the first entry not yet read). Evidence: `<dir>/evidence-<time>/`.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { toBase64 } from "../core/bytes";
import type { Checkpoint } from "../core/checkpoint";
import { checkQuorum, parseCosignerKey, type CosignerKey } from "../core/cosignature";
import type { NoteVerifier } from "../core/note";
import { TILE_WIDTH } from "../core/tiles";
import {
  checkConsistencyFromTiles,
  describeTileFailure,
  openSigned,
  readBundle,
  signedCheckpoint,
  TileSet,
  type TileFailure,
  type TileGet,
  newestPrunedFromTiles,
} from "../core/tile-client";
import { describePruned, type PrunedRange } from "../core/audit";

/** Exit codes (README "Monitor"): 0 all good; 1 the log misbehaved (fork, rollback, bad signature or tiles); 2 usage or I/O; 3 quorum not met. */
export const EXIT_OK = 0;
export const EXIT_LOG_FAILED = 1;
export const EXIT_QUORUM = 3;

export interface MonitorOptions {
  get: TileGet;
  verifiers: readonly NoteVerifier[];
  state: string;
  witnesses?: readonly string[];
  quorum?: number;
  /** Report new entries whose event.action starts with this, and/or whose event.actor.id is this. */
  actionPrefix?: string;
  actor?: string;
  /** First entry to read when no state exists (default: the current size: only what is new). */
  from?: number;
  nowMs: number;
  out: (line: string) => void;
}

export interface PollResult {
  code: number;
  size?: number;
  message: string;
  matches: { seq: number; action: unknown; actor: unknown }[];
  evidence?: string;
}

const CHECKPOINT_FILE = "checkpoint";
const STATE_FILE = "state.json";

function writeAtomic(file: string, body: string | Uint8Array) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, body);
  renameSync(`${file}.tmp`, file);
}

/** Saves what shows the failure, so that anyone can check it again without trusting this monitor. */
function saveEvidence(
  o: MonitorOptions,
  reason: string,
  files: { old?: string; new?: string; proof?: { from: number; to: number; hashes: string[] }; tiles?: Map<string, Uint8Array> },
): string {
  const dir = join(o.state, `evidence-${new Date(o.nowMs).toISOString().replaceAll(":", "-")}`);
  mkdirSync(dir, { recursive: true });
  if (files.old !== undefined) writeFileSync(join(dir, "old.checkpoint"), files.old);
  if (files.new !== undefined) writeFileSync(join(dir, "new.checkpoint"), files.new);
  if (files.proof) writeFileSync(join(dir, "consistency.json"), `${JSON.stringify(files.proof, null, 2)}\n`);
  for (const [path, bytes] of files.tiles ?? []) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), bytes);
  }
  writeFileSync(
    join(dir, "README.txt"),
    [
      `sealtrail monitor: ${reason}`,
      "",
      "old.checkpoint  the last checkpoint this monitor had verified (signed note, c2sp.org/tlog-checkpoint)",
      "new.checkpoint  the checkpoint the log served next",
      "consistency.json  the RFC 9162 consistency proof from old to new, built from the tiles below (base64)",
      "tile/...        the hash tiles (c2sp.org/tlog-tiles) the proof was built from, as served",
      "",
      "Both checkpoints carry the log's signature: check them with its verifier key, then check the proof",
      "with any RFC 9162 §2.1.4.2 verifier. Two signed checkpoints that no proof connects are a fork.",
      "",
    ].join("\n"),
  );
  return dir;
}

/** One poll. Never throws on the log's misbehaviour (that is a result); I/O errors do throw. */
export async function pollOnce(o: MonitorOptions): Promise<PollResult> {
  const matches: PollResult["matches"] = [];
  const signed = await signedCheckpoint(o.get, o.verifiers);
  const stored = existsSync(join(o.state, CHECKPOINT_FILE)) ? readFileSync(join(o.state, CHECKPOINT_FILE), "utf8") : undefined;
  const fail = (code: number, failure: TileFailure | string, files: Parameters<typeof saveEvidence>[2]): PollResult => {
    const message = typeof failure === "string" ? failure : describeTileFailure(failure);
    return { code, message, matches, evidence: saveEvidence(o, message, files) };
  };
  if (!signed.ok) return fail(EXIT_LOG_FAILED, signed.failure, { old: stored, new: signed.note });
  const { note, cp } = signed;

  // Witnesses: k valid cosignatures by the given keys, and none invalid.
  if (o.witnesses?.length) {
    const keys: CosignerKey[] = [];
    for (const w of o.witnesses) {
      const k = parseCosignerKey(w);
      if (!k.ok) throw new Error(`bad --witness key ${w}: ${k.error.reason}`);
      keys.push(k.value);
    }
    const quorum = checkQuorum(note, keys, o.quorum ?? keys.length);
    if (!quorum.ok) {
      const got = quorum.error.reason === "quorum_not_met" ? `${quorum.error.got} of ${quorum.error.need}` : quorum.error.reason;
      return fail(EXIT_QUORUM, `witness quorum not met at size ${cp.size} (${got})`, { old: stored, new: note });
    }
  }

  const tiles = new TileSet(o.get, cp.size);
  let previous: Checkpoint | undefined;
  if (stored !== undefined) {
    const prev = openSigned(stored, o.verifiers);
    if (!prev.ok) throw new Error(`the stored checkpoint in ${o.state} does not verify with these keys`);
    previous = prev.cp;
    const { failure, proof } = await checkConsistencyFromTiles(tiles, prev.cp, cp);
    if (failure) {
      return fail(EXIT_LOG_FAILED, failure, {
        old: stored,
        new: note,
        proof: { from: prev.cp.size, to: cp.size, hashes: proof.map(toBase64) },
        tiles: tiles.raw,
      });
    }
  }

  // New entries, against the rule.
  const statePath = join(o.state, STATE_FILE);
  const state = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, "utf8")) as { next_entry: number }) : undefined;
  let next = state?.next_entry ?? o.from ?? cp.size;
  if (o.actionPrefix !== undefined || o.actor !== undefined) {
    let pruned: PrunedRange | undefined | null = null;
    for (let n = Math.floor(next / TILE_WIDTH); n * TILE_WIDTH < cp.size; n++) {
      const bundle = await readBundle(o.get, tiles, n, cp.size);
      if (!bundle.ok && bundle.failure.reason === "missing_tile") {
        // Below the range the log records as pruned by retention, a bundle is gone on purpose.
        if (pruned === null) pruned = await newestPrunedFromTiles(o.get, tiles, cp.size);
        if (pruned && n * TILE_WIDTH < pruned.to) {
          o.out(`note: entries [${n * TILE_WIDTH}, ${(n + 1) * TILE_WIDTH}) were ${describePruned(pruned)}`);
          continue;
        }
      }
      if (!bundle.ok) return fail(EXIT_LOG_FAILED, bundle.failure, { old: stored, new: note, tiles: tiles.raw });
      for (const [i, bytes] of bundle.entries.entries()) {
        const seq = n * TILE_WIDTH + i;
        if (seq < next) continue;
        const entry = JSON.parse(new TextDecoder().decode(bytes)) as { event?: { action?: unknown; actor?: { id?: unknown } } };
        const action = entry.event?.action;
        const actor = entry.event?.actor?.id;
        const byAction = o.actionPrefix === undefined || (typeof action === "string" && action.startsWith(o.actionPrefix));
        const byActor = o.actor === undefined || actor === o.actor;
        if (byAction && byActor) {
          matches.push({ seq, action, actor });
          o.out(JSON.stringify({ seq, action, actor }));
        }
      }
    }
  }
  next = Math.max(next, cp.size);

  // Durable now: the checkpoint verified (and consistent with the last one) becomes the one to check against.
  writeAtomic(join(o.state, CHECKPOINT_FILE), note);
  writeAtomic(statePath, `${JSON.stringify({ next_entry: next })}\n`);
  const extended = previous ? `, consistent with size ${previous.size}` : " (first checkpoint stored)";
  return { code: EXIT_OK, size: cp.size, message: `OK: ${cp.origin} at size ${cp.size}${extended}`, matches };
}

/** Polls once, or every `everySeconds` until a poll fails (its code is returned). */
export async function monitor(o: Omit<MonitorOptions, "nowMs"> & { everySeconds?: number }, log: (line: string) => void): Promise<number> {
  for (;;) {
    let r: PollResult;
    try {
      r = await pollOnce({ ...o, nowMs: Date.now() });
    } catch (e) {
      // Once (cron): an I/O error is exit 2 (main.ts). Continuously: the log may be back next time.
      if (o.everySeconds === undefined) throw e;
      log(`poll failed, trying again in ${o.everySeconds} s: ${e instanceof Error ? e.message : String(e)}`);
      await new Promise((resolve) => setTimeout(resolve, o.everySeconds! * 1000));
      continue;
    }
    log(r.evidence ? `${r.message}\nevidence saved in ${r.evidence}` : r.message);
    if (r.code !== EXIT_OK || o.everySeconds === undefined) return r.code;
    await new Promise((resolve) => setTimeout(resolve, o.everySeconds! * 1000));
  }
}
