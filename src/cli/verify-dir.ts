/**
 * `sealtrail verify <dir>`: verifies a downloaded chain of snapshots offline, with nothing but
 * src/core: every manifest's signature and link to the previous one (consistency proof and
 * hash chain), every bundle's SHA-256, every entry's chain link, and the recomputed RFC 6962
 * root at every seal against the signed checkpoint.
 *
 * Files per seal (as `sealtrail fetch` writes them): <id>.manifest, <id>.jsonl (the bundle)
 * and optionally <id>.checkpoint, where <id> is the 12-digit seal number.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkBundleAgainst, checkEntries, checkSealManifest, closeSeal, bundleRows, fail, initialAudit, type AuditState } from "../core/audit";
import type { NoteVerifier } from "../core/note";

export interface DirReport {
  ok: boolean;
  origin: string;
  tenant: string | null;
  seals: number;
  entries: number;
  tree_size: number;
  duration_ms: number;
  failures: AuditState["failures"];
}

const SEAL_FILE = /^([0-9]{12})\.(manifest|jsonl|checkpoint)$/;

export function sealIdsIn(dir: string): string[] {
  const ids = new Set<string>();
  for (const name of readdirSync(dir)) {
    const m = SEAL_FILE.exec(name);
    if (m) ids.add(m[1]!);
  }
  return [...ids].sort();
}

const readIf = (path: string): string | undefined => {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
};

/** The tenant a manifest names (read before verification only to label the run). */
function tenantOf(note: string | undefined): string {
  try {
    return (JSON.parse(note?.slice(0, note.indexOf("\n")) ?? "") as { tenant?: string }).tenant ?? "";
  } catch {
    return "";
  }
}

export function verifyDir(dir: string, verifiers: readonly NoteVerifier[], onProgress?: (done: number, total: number, entries: number) => void): DirReport {
  const started = Date.now();
  const origin = verifiers[0]?.name ?? "";
  const ids = sealIdsIn(dir);
  const state = initialAudit(tenantOf(readIf(join(dir, `${ids[0] ?? ""}.manifest`))));
  for (const [i, id] of ids.entries()) {
    const expected = String(i).padStart(12, "0");
    if (id !== expected) {
      fail(state, { kind: "seal_missing", key: `${expected}.manifest` });
      break;
    }
    const manifestKey = `${id}.manifest`;
    const note = readIf(join(dir, manifestKey));
    if (note === undefined) {
      fail(state, { kind: "seal_missing", key: manifestKey });
      break;
    }
    const seal = checkSealManifest(state, manifestKey, note, origin, verifiers);
    if (!seal) break; // an unverifiable manifest: nothing after it can be trusted
    const bundleKey = `${id}.jsonl`;
    const bundle = readIf(join(dir, bundleKey));
    if (bundle === undefined) {
      fail(state, { kind: "seal_missing", key: bundleKey });
      break;
    }
    const m = seal.manifest;
    checkBundleAgainst(state, bundleKey, bundle, m, new Map());
    checkEntries(state, bundleRows(bundle, m.from), m.to - m.from);
    closeSeal(state, Number(id), manifestKey, note, seal);
    const checkpoint = readIf(join(dir, `${id}.checkpoint`));
    if (checkpoint !== undefined && checkpoint !== m.checkpoint) {
      fail(state, { kind: "seal_invalid", key: `${id}.checkpoint`, detail: "checkpoint file differs from the manifest's" });
    }
    onProgress?.(i + 1, ids.length, state.checked.entries);
  }
  if (ids.length === 0) fail(state, { kind: "seal_missing", key: "000000000000.manifest" });
  return {
    ok: state.failures.length === 0,
    origin,
    tenant: state.tenant || null,
    seals: state.checked.seals,
    entries: state.checked.entries,
    tree_size: state.next,
    duration_ms: Date.now() - started,
    failures: state.failures,
  };
}
