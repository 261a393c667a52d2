/**
 * In-browser verification with src/core: the console checks what the server shows against
 * the tenant's *pinned* verifier keys, so it does not take the server's word for it.
 *
 * Pinning is trust on first use (as with SSH host keys): the first time this browser opens a
 * tenant, the keys GET /v1/keys serves are stored in localStorage. Later, a key the server
 * offers that is not pinned is reported and not used until the person pins it. A key got out
 * of band (from the CLI, a colleague, a contract) can be pinned instead.
 *
 * The last checkpoint this browser verified is kept too; each new one must be consistent with
 * it (RFC 9162 §2.1.4.2), which catches a log rewritten or forked between visits.
 */
import { equalBytes, fromBase64, toBase64 } from "../core/bytes";
import { openCheckpoint, type Checkpoint } from "../core/checkpoint";
import { entryLeafHash } from "../core/entry";
import { verifyConsistency, verifyInclusion } from "../core/merkle";
import { parseVerifierKey, type NoteVerifier } from "../core/note";
import { json, tenantPath, text } from "./api";
import type { EntryView, ProofHashes, VerifierKeys } from "./wire";

export interface Pin {
  origin: string;
  keys: string[];
  pinned_at: string;
}

const pinKey = (tenant: string) => `sealtrail.pin.${tenant}`;
const seenKey = (tenant: string) => `sealtrail.seen.${tenant}`;

export function readPin(tenant: string): Pin | null {
  try {
    const pin = JSON.parse(localStorage.getItem(pinKey(tenant)) ?? "null") as Pin | null;
    const valid = pin !== null && typeof pin.origin === "string" && Array.isArray(pin.keys) && pin.keys.every((k) => typeof k === "string");
    return valid ? pin : null;
  } catch {
    return null;
  }
}

/** The last checkpoint this browser verified for the tenant, or null. */
export function readSeen(tenant: string): { size: number; root: Uint8Array } | null {
  try {
    const seen = JSON.parse(localStorage.getItem(seenKey(tenant)) ?? "null") as { size?: unknown; root?: unknown } | null;
    const root = typeof seen?.root === "string" ? fromBase64(seen.root) : undefined;
    return seen && Number.isSafeInteger(seen.size) && root ? { size: seen.size as number, root } : null;
  } catch {
    return null;
  }
}

export function writePin(tenant: string, keys: string[], now: Date): Pin | string {
  const parsed = keys.map((k) => parseVerifierKey(k.trim()));
  const bad = parsed.findIndex((p) => !p.ok);
  if (bad >= 0) return `Key ${bad + 1} is not a signed-note verifier key.`;
  const names = new Set(parsed.map((p) => (p.ok ? p.value.name : "")));
  if (names.size !== 1) return "All pinned keys must be for the same log origin.";
  if (![...names][0]!.endsWith(`/${tenant}`)) return `That key is for the log ${[...names][0]}, not this tenant's.`;
  const pin: Pin = { origin: [...names][0]!, keys: keys.map((k) => k.trim()), pinned_at: now.toISOString() };
  localStorage.setItem(pinKey(tenant), JSON.stringify(pin));
  localStorage.removeItem(seenKey(tenant));
  return pin;
}

export interface PinState {
  pin: Pin;
  /** True when this visit pinned the keys (first use). */
  firstUse: boolean;
  /** Keys the server offers now that are not pinned. */
  unpinned: string[];
}

/** The tenant's pinned keys, pinning the served ones on first use. */
export async function pinState(tenant: string, now: Date): Promise<PinState | string> {
  const served = (await json<VerifierKeys>(`/v1/keys?tenant=${encodeURIComponent(tenant)}`)).keys.map((k) => k.verifier_key);
  const existing = readPin(tenant);
  if (existing) return { pin: existing, firstUse: false, unpinned: served.filter((k) => !existing.keys.includes(k)) };
  const pin = writePin(tenant, served, now);
  return typeof pin === "string" ? pin : { pin, firstUse: true, unpinned: [] };
}

function verifiers(pin: Pin): NoteVerifier[] {
  return pin.keys.flatMap((k) => {
    const v = parseVerifierKey(k);
    return v.ok ? [v.value] : [];
  });
}

export type CheckFailure =
  | { reason: "checkpoint_invalid"; detail: string }
  | { reason: "checkpoint_inconsistent"; expected: string; got: string; detail: string }
  | { reason: "entry_not_included"; seq: number; detail: string }
  | { reason: "entry_missing"; seq: number };

export interface CheckpointCheck {
  checkpoint?: Checkpoint;
  /** The signed note as served (with any witness cosignature lines). */
  note?: string;
  /** The size of the checkpoint this browser had verified before, if any. */
  previous?: number;
  failure?: CheckFailure;
}

const detailOf = (e: { reason: string }) => e.reason;

/**
 * Accepts a checkpoint (already signature-checked) only if it extends the last one this
 * browser verified (RFC 9162 §2.1.4.2 consistency proof, fetched from the server and checked
 * here), then remembers it. A log that was rewritten, shrank or forked since fails.
 */
function extendSeen(tenant: string, cp: Checkpoint): Promise<CheckpointCheck> {
  // One at a time per tenant (two checks may run at once: a click during the automatic check,
  // an entry page, another tab's writes are re-read below): each compares with what the last
  // one stored.
  const run = (chains.get(tenant) ?? Promise.resolve()).then(() => extendSeenNow(tenant, cp));
  chains.set(
    tenant,
    run.catch(() => undefined),
  );
  return run;
}
const chains = new Map<string, Promise<unknown>>();

async function consistent(tenant: string, from: { size: number; root: Uint8Array }, to: { size: number; root: Uint8Array }) {
  // RFC 9162 §2.1.4.2; a tree of size 0 is a prefix of every tree (the API refuses from=0).
  if (from.size === 0) return { ok: true as const };
  if (from.size === to.size)
    return equalBytes(from.root, to.root) ? { ok: true as const } : { ok: false as const, reason: "same size, another root" };
  const proof = await json<ProofHashes>(tenantPath(tenant, `/proof/consistency?from=${from.size}&to=${to.size}`));
  const hashes = proof.hashes.map((h) => fromBase64(h) ?? new Uint8Array(0));
  const r = verifyConsistency(from.size, to.size, hashes, from.root, to.root);
  return r.ok ? { ok: true as const } : { ok: false as const, reason: r.error.reason };
}

async function extendSeenNow(tenant: string, cp: Checkpoint): Promise<CheckpointCheck> {
  const seen = readSeen(tenant);
  if (seen) {
    const expected = `a tree consistent with the one of size ${seen.size} and root ${toBase64(seen.root)}`;
    // An older checkpoint (a proof fetched before a newer one was seen) must be a prefix of
    // the seen tree; a newer one must extend it.
    const check = cp.size < seen.size ? await consistent(tenant, cp, seen) : await consistent(tenant, seen, cp);
    if (!check.ok) {
      return {
        checkpoint: cp,
        previous: seen.size,
        failure: { reason: "checkpoint_inconsistent", expected, got: `size ${cp.size}, root ${toBase64(cp.root)}`, detail: check.reason },
      };
    }
    if (cp.size <= seen.size) return { checkpoint: cp, previous: seen.size };
  }
  // Only ever grows: another tab may have stored a larger one meanwhile.
  const latest = readSeen(tenant);
  if (!latest || latest.size < cp.size) localStorage.setItem(seenKey(tenant), JSON.stringify({ size: cp.size, root: toBase64(cp.root) }));
  return { checkpoint: cp, ...(seen ? { previous: seen.size } : {}) };
}

/**
 * Fetches the tenant's checkpoint, checks its signature against the pinned keys, and checks
 * it is consistent with the last one this browser verified; remembers it if all holds.
 */
export async function checkCheckpoint(tenant: string, pin: Pin): Promise<CheckpointCheck> {
  const note = await text(tenantPath(tenant, "/checkpoint"));
  const opened = openCheckpoint(note, pin.origin, verifiers(pin));
  if (!opened.ok) return { failure: { reason: "checkpoint_invalid", detail: detailOf(opened.error) } };
  return { ...(await extendSeen(tenant, opened.value)), note };
}

/**
 * Checks that the bytes the server shows for an entry are the leaf at its sequence number in
 * `cp`, a checkpoint this browser has verified (checkCheckpoint: signed by a pinned key and
 * consistent with the last one seen). The entry is hashed here, and its RFC 6962 inclusion
 * proof is asked for at exactly cp's size and checked against cp's root (RFC 9162 §2.1.3.2),
 * so every entry of one check is held to the same signed tree.
 */
export async function checkEntry(tenant: string, cp: Checkpoint, entry: Pick<EntryView, "seq" | "entry">): Promise<CheckFailure | null> {
  if (entry.seq >= cp.size)
    return { reason: "entry_not_included", seq: entry.seq, detail: `beyond the checked tree of ${cp.size} entries` };
  const proof = await json<ProofHashes>(tenantPath(tenant, `/proof/inclusion?index=${entry.seq}&size=${cp.size}`));
  const hashes = proof.hashes.map((h) => fromBase64(h) ?? new Uint8Array(0));
  const result = verifyInclusion(entry.seq, cp.size, entryLeafHash(entry.entry), hashes, cp.root);
  return result.ok ? null : { reason: "entry_not_included", seq: entry.seq, detail: detailOf(result.error) };
}

/** One sentence for a person, naming the entry or checkpoint that failed. */
export function describeFailure(f: CheckFailure): string {
  switch (f.reason) {
    case "checkpoint_invalid":
      return `The checkpoint is not signed by the pinned key (${f.detail}).`;
    case "checkpoint_inconsistent":
      return `The log is not an extension of the one this browser verified before: expected ${f.expected}, got ${f.got} (${f.detail}).`;
    case "entry_not_included":
      return `Entry ${f.seq}: the bytes served are not the ones the signed log holds at this position (${f.detail}).`;
    case "entry_missing":
      return `Entry ${f.seq}: the server did not return it, though the signed log holds it.`;
  }
}
