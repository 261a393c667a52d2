/**
 * The witness's configuration, from its Worker's environment (wrangler.witness.toml, secrets):
 *
 * - WITNESS_PRIVATE_KEY (secret): its cosigning key, "PRIVATE+KEY+<name>+<hex id>+<base64(type ‖
 *   seed)>", type 0x06 (ML-DSA-44) or 0x04 (Ed25519 cosignature/v1). `npm run witness` and
 *   `npm run deploy:witness` make one.
 * - WITNESS_LOGS: the logs it witnesses, one entry per line (or comma separated); "#" starts a
 *   comment. An entry is a log's verifier key, "<key name>+<hex id>+<base64(type ‖ key)>" (type
 *   0x01 Ed25519, 0x04 or 0x06), whose key name is the log's origin; or "<origin> <vkey>" when
 *   the key name differs from the origin. Several keys for one origin: several entries (all are
 *   trusted; one valid signature by any of them is enough, a failing one refuses the note).
 *
 * Parsed once per isolate for each distinct value (the values change only with a deploy).
 */
import { parseCosignerPrivateKey, parseLogVerifierKey, type Cosigner } from "../core/cosignature";
import { sha256Hex } from "../core/hash";
import type { NoteVerifier } from "../core/note";
import { err, ok, type Result } from "../core/result";

export interface TrustedLog {
  origin: string;
  verifiers: NoteVerifier[];
  vkeys: string[];
  /** c2sp.org/tlog-witness "Monitor Retrieval Mechanism": lowercase hex SHA-256 of the origin. */
  originHash: string;
}

export interface WitnessConfig {
  cosigner: Cosigner;
  logs: Map<string, TrustedLog>;
  byOriginHash: Map<string, TrustedLog>;
}

/** Parses WITNESS_LOGS. An entry that does not parse is an error (the witness then refuses to run). */
export function parseLogList(text: string): Result<Map<string, TrustedLog>, string> {
  const logs = new Map<string, TrustedLog>();
  const entries = text
    .split(/[\n,]/)
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter((l) => l.length > 0);
  for (const entry of entries) {
    const parts = entry.split(/\s+/);
    if (parts.length > 2) return err(`WITNESS_LOGS entry ${JSON.stringify(entry)}: expected "<vkey>" or "<origin> <vkey>"`);
    const vkey = parts.at(-1)!;
    const verifier = parseLogVerifierKey(vkey);
    if (!verifier.ok) return err(`WITNESS_LOGS entry ${JSON.stringify(entry)}: ${JSON.stringify(verifier.error)}`);
    const origin = parts.length === 2 ? parts[0]! : verifier.value.name;
    const log = logs.get(origin) ?? { origin, verifiers: [], vkeys: [], originHash: sha256Hex(origin) };
    if (!log.vkeys.includes(vkey)) {
      log.verifiers.push(verifier.value);
      log.vkeys.push(vkey);
    }
    logs.set(origin, log);
  }
  return ok(logs);
}

export interface WitnessVars {
  WITNESS_PRIVATE_KEY?: string;
  WITNESS_LOGS?: string;
}

let cached: { key: string; logs: string; config: Result<WitnessConfig, string> } | undefined;

/** The configuration for these variables, or why there is none (the witness answers 503). */
export function configOf(vars: WitnessVars): Result<WitnessConfig, string> {
  const key = vars.WITNESS_PRIVATE_KEY ?? "";
  const logsText = vars.WITNESS_LOGS ?? "";
  if (cached?.key === key && cached.logs === logsText) return cached.config;
  const config = build(key, logsText);
  cached = { key, logs: logsText, config };
  return config;
}

function build(keyText: string, logsText: string): Result<WitnessConfig, string> {
  if (keyText.trim() === "") return err("WITNESS_PRIVATE_KEY is not set");
  const cosigner = parseCosignerPrivateKey(keyText.trim());
  if (!cosigner.ok) return err(`WITNESS_PRIVATE_KEY: ${cosigner.error.reason}`);
  const logs = parseLogList(logsText);
  if (!logs.ok) return logs;
  const byOriginHash = new Map([...logs.value.values()].map((l) => [l.originHash, l]));
  return ok({ cosigner: cosigner.value, logs: logs.value, byOriginHash });
}
