/**
 * `--witness <vkey>` (repeatable, or @file) and `--quorum k` of `sealtrail verify` and
 * `verify-proof`: the newest checkpoint must carry k valid cosignatures by those witnesses
 * (c2sp.org/tlog-cosignature; docs/design.md "Witnessing"). Witnesses are pinned like the log's
 * key: given by the auditor, never taken from the server.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { checkQuorum, parseCosignerKey, type CosignerKey } from "../core/cosignature";
import { HEAD_CHECKPOINT, sealIdsIn } from "./verify-dir";

export interface WitnessPolicy {
  keys: CosignerKey[];
  quorum: number;
}

/** The policy from the options (undefined without --witness and --quorum); a usage problem as a string. */
export function witnessPolicy(witness: string[] | undefined, quorum: string | undefined): WitnessPolicy | string | undefined {
  const texts = (witness ?? []).flatMap((w) =>
    w.startsWith("@")
      ? readFileSync(w.slice(1), "utf8")
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean)
      : [w.trim()],
  );
  if (texts.length === 0 && quorum === undefined) return undefined;
  const keys: CosignerKey[] = [];
  for (const t of texts) {
    const key = parseCosignerKey(t);
    if (!key.ok) return `bad --witness ${t}: ${"detail" in key.error ? key.error.detail : key.error.reason}`;
    keys.push(key.value);
  }
  const k = quorum === undefined ? Math.min(1, keys.length) : Number(quorum);
  if (!Number.isSafeInteger(k) || k < 0) return "--quorum must be a whole number >= 0";
  if (k > keys.length) return `--quorum ${k} needs at least ${k} --witness keys (${keys.length} given)`;
  return { keys, quorum: k };
}

export type QuorumCheck = { ok: true; cosigned_by: string[] } | { ok: false; detail: string; found: number };

/** Whether `note` (a signed checkpoint) carries the quorum of valid cosignatures. */
export function checkWitnesses(note: string, policy: WitnessPolicy): QuorumCheck {
  const q = checkQuorum(note, policy.keys, policy.quorum);
  if (q.ok) return { ok: true, cosigned_by: q.value.valid.map((v) => v.key.name) };
  const e = q.error;
  if (e.reason === "quorum_not_met") {
    const bad = e.invalid.length > 0 ? `; cosignatures that fail to verify: ${e.invalid.join(", ")}` : "";
    return { ok: false, detail: `${e.got} of the ${e.need} witness cosignatures required${bad}`, found: e.got };
  }
  return { ok: false, detail: e.reason, found: 0 };
}

/** The newest checkpoint in a fetched folder: head.checkpoint, else the last seal's checkpoint file. */
export function newestCheckpointIn(dir: string): { file: string; note: string } | undefined {
  const last = sealIdsIn(dir).at(-1);
  for (const file of [HEAD_CHECKPOINT, ...(last ? [`${last}.checkpoint`] : [])]) {
    try {
      return { file, note: readFileSync(join(dir, file), "utf8") };
    } catch {
      // not there: the next one
    }
  }
  return undefined;
}
