#!/usr/bin/env node
/**
 * sealtrail: offline verification of Sealtrail logs, using only src/core.
 * Exit codes: 0 verified, 1 verification failed (tampering or a wrong key), 2 usage or I/O error.
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { isMainThread, workerData } from "node:worker_threads";
import { parseArgs } from "node:util";
import { fetchSnapshots } from "./fetch";
import { PRECHECK_ROLE, runPrecheckWorker, verifyDir, verifyDirParallel } from "./verify-dir";
import { verifiersFrom, verifyProofFiles } from "./verify-proof";
import { useNativeSha256 } from "../worker/native-sha256";

// Node's OpenSSL SHA-256 for every hash (checked against test vectors; noble otherwise).
useNativeSha256();

const USAGE = `usage:
  sealtrail verify <dir> --key <verifier key> [--key …] [--json] [--jobs N]
      verify a folder of downloaded snapshots: manifests, checkpoints, bundles, the chain
      (--jobs: threads that read and hash bundles; default: every core, 1 = this thread only)
  sealtrail verify-proof <file.tlog-proof> --entry <entry file> --key <verifier key> [--json]
      verify that one entry is in the log (a receipt)
  sealtrail fetch --url <base url> --tenant <tenant id> --token <verify key> [--out <dir>]
      download a tenant's snapshots and verifier keys for offline verification

  --key     a verifier key from GET /v1/keys ("<origin>+<key id>+<key>"), or @file with one
            key per line (fetch writes verifier-keys.txt); repeat for rotated keys
  --entry   the entry's exact bytes, or the JSON of GET /v1/tenants/:t/events/:seq
  --json    print the report as JSON
exit codes: 0 verified, 1 verification failed, 2 usage or I/O error`;

class Usage extends Error {}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function keysFrom(values: string[] | undefined): string[] {
  if (!values?.length) throw new Usage("--key is required");
  return values.flatMap((k) => (k.startsWith("@") ? readFileSync(k.slice(1), "utf8").split("\n").filter((l) => l.trim()) : [k]));
}

const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? Buffer.from(x).toString("base64") : x), 2);

/** A progress line on stderr, only when it is a terminal. */
function progress(label: string) {
  if (!process.stderr.isTTY) return undefined;
  return (done: number, total: number, extra?: number) => {
    const width = 30;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    process.stderr.write(`\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total}${extra !== undefined ? `  ${extra} entries` : ""}`);
    if (done === total) process.stderr.write("\n");
  };
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      entry: { type: "string" },
      key: { type: "string", multiple: true },
      json: { type: "boolean" },
      url: { type: "string" },
      tenant: { type: "string" },
      token: { type: "string" },
      out: { type: "string" },
      jobs: { type: "string" },
    },
  });
  switch (command) {
    case "verify": {
      const [dir] = positionals;
      if (!dir) throw new Usage("verify needs a folder");
      const verifiers = verifiersFrom(keysFrom(values.key));
      if (!verifiers.ok) throw new Usage(`bad --key: ${verifiers.error.detail}`);
      const jobs = values.jobs === undefined ? availableParallelism() : Number(values.jobs);
      if (!Number.isSafeInteger(jobs) || jobs < 1) throw new Usage("--jobs must be a whole number >= 1");
      // With more than one core, worker threads read and precheck bundles (same report).
      const report = jobs > 1 ? await verifyDirParallel(dir, verifiers.value, jobs, new URL(import.meta.url), progress("verifying")) : verifyDir(dir, verifiers.value, progress("verifying"));
      if (values.json) console.log(json(report));
      else if (report.ok) console.log(`OK: ${plural(report.entries, "entry", "entries")} in ${plural(report.seals, "seal", "seals")} of ${report.origin} verified (tree size ${report.tree_size})`);
      else {
        console.error(`FAILED: ${report.failures.length} problem(s) in ${report.origin}; the first:`);
        console.error(json(report.failures[0]));
      }
      return report.ok ? 0 : 1;
    }
    case "verify-proof": {
      const [proofFile] = positionals;
      if (!proofFile || !values.entry) throw new Usage("verify-proof needs a proof file and --entry");
      const report = verifyProofFiles(readFileSync(proofFile, "utf8"), readFileSync(values.entry, "utf8"), keysFrom(values.key));
      if (values.json) console.log(json(report));
      else if (report.ok) console.log(`OK: entry ${report.index} is in ${report.origin} at tree size ${report.tree_size} (checkpoint signature verified)`);
      else console.error(`FAILED: ${report.error?.reason ?? "unknown"}${report.origin ? ` (${report.origin})` : ""}`);
      if (report.error?.reason === "bad_key") return 2;
      return report.ok ? 0 : 1;
    }
    case "fetch": {
      if (!values.url || !values.tenant || !values.token) throw new Usage("fetch needs --url, --tenant and --token");
      const out = values.out ?? `sealtrail-${values.tenant}`;
      const r = await fetchSnapshots({ url: values.url, tenant: values.tenant, token: values.token, out, onProgress: progress("downloading") });
      if (values.json) console.log(json({ out, ...r }));
      else console.log(`Downloaded ${plural(r.seals, "snapshot", "snapshots")} to ${out}; verify with:\n  sealtrail verify ${out} --key @${out}/verifier-keys.txt`);
      return 0;
    }
    default:
      throw new Usage(command ? `unknown command ${command}` : "no command");
  }
}

// The CLI bundle is also the worker of `verify` (verifyDirParallel).
if (!isMainThread && (workerData as { role?: string } | null)?.role === PRECHECK_ROLE) runPrecheckWorker();
else main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: unknown) => {
    if (e instanceof Usage || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) console.error(`${(e as Error).message}\n\n${USAGE}`);
    else console.error(`sealtrail: ${(e as Error).message}`);
    process.exitCode = 2;
  },
);
