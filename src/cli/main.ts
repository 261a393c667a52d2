#!/usr/bin/env node
/**
 * sealtrail: offline verification of Sealtrail logs, using only src/core.
 * Exit codes: 0 verified, 1 verification failed (tampering or a wrong key), 2 usage or I/O error.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { availableParallelism } from "node:os";
import { isMainThread, workerData } from "node:worker_threads";
import { parseArgs } from "node:util";
import { describePruned } from "../core/audit";
import { FETCHED_KEYS, fetchSnapshots } from "./fetch";
import { HEAD_CHECKPOINT, PRECHECK_ROLE, runPrecheckWorker, verifyDir, verifyDirParallel, type DirReport } from "./verify-dir";
import { describeProofFailure, verifiersFrom, verifyProofFiles, type EntryFile } from "./verify-proof";
import { checkWitnesses, newestCheckpointIn, witnessPolicy } from "./witnesses";
import { useNativeSha256 } from "../runtime/native-sha256";
import { monitor } from "./monitor";
import { describeTileFailure, verifyTiles } from "../core/tile-client";
import { httpTileGet } from "./tiles";

// Node's OpenSSL SHA-256 for every hash (checked against test vectors; noble otherwise).
useNativeSha256();

const USAGE = `usage:
  sealtrail verify <dir> [--key <verifier key>]... [--witness <vkey>]... [--quorum k] [--json] [--jobs N]
      verify a folder of downloaded snapshots: manifests, checkpoints, bundles, the chain;
      and say how many entries lie past the last seal, which no snapshot covers yet
      (--jobs: threads that read and hash bundles; default: every core, 1 = this thread only)
  sealtrail verify-proof <file.tlog-proof> (--entry <file> | --entry-raw <file>) --key <verifier key>
      [--witness <vkey>]... [--quorum k] [--json]
      verify that one entry is in the log (a receipt); for a Sealtrail entry, also that the
      fields beside its bytes (event, provenance, seq, received_at, leaf_hash) are what they say
  sealtrail fetch --url <base url> --tenant <tenant id> --token <verify key> [--out <dir>]
      download a tenant's snapshots, its current signed checkpoint and the keys it publishes
  sealtrail verify-tiles <prefix> --key <verifier key> [--token <key>] [--entries] [--previous <file>] [--json]
      verify a log from its c2sp.org/tlog-tiles resources alone (<prefix>: <server>/logs/<tenant id>/,
      or any tlog-tiles log): the signed checkpoint, every hash tile, the root they give; --entries
      also hashes every entry bundle (needs a key with read); --previous: a checkpoint saved earlier,
      which the current one must extend (consistency proof from tiles)
  sealtrail monitor <prefix> --key <verifier key> [--token <key>] [--state <dir>] [--every <seconds>]
                    [--witness <vkey>]... [--quorum k] [--action-prefix <p>] [--actor <id>] [--from <seq>]
      poll the checkpoint (once, or every N seconds); check its signature, k witness cosignatures,
      and that it extends the last checkpoint stored in --state (default .sealtrail-monitor), with a
      consistency proof from tiles; report new entries whose action starts with --action-prefix
      and/or whose actor id is --actor (reads entry bundles: needs read). On a failure, evidence
      files (both checkpoints, the proof, the tiles) are saved under --state
  sealtrail help
      this text (also --help, -h, and <command> --help)

  --key        the tenant's verifier key ("<origin>+<key id>+<key>"), or @file with one key per
               line; repeat for rotated keys. Pin it out of band: copy it from the console when
               you first see it, or get it from the tenant's auditor. Without --key, verify uses
               the keys fetch saved (from the server under test, not pinned) and warns
  --witness    a witness's verifier key (c2sp.org/tlog-cosignature, Ed25519 or ML-DSA-44), or @file;
               repeat for each witness. Pinned like --key: from the witnesses' operators
  --quorum     how many of the --witness keys must have cosigned the newest checkpoint
               (verify: head.checkpoint, else the last seal's; verify-proof: the proof's).
               Default 1 when --witness is given
  --entry      a Sealtrail entry: its exact bytes, or the JSON of GET /v1/tenants/:t/events/:seq
  --entry-raw  any transparency log's entry (c2sp.org/tlog-proof): the file's exact bytes
  --json       print the report as JSON
exit codes: 0 verified, 1 verification failed (monitor: a fork, a rollback, a bad signature or tile),
            2 usage or I/O error, 3 (monitor) witness quorum not met`;

class Usage extends Error {}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function keysFrom(values: string[] | undefined): string[] {
  if (!values?.length) throw new Usage("--key is required");
  return values.flatMap((k) =>
    k.startsWith("@")
      ? readFileSync(k.slice(1), "utf8")
          .split("\n")
          .filter((l) => l.trim())
      : [k],
  );
}

/** Whether `file` is the verifier-keys.txt that fetch saved in `dir`. */
const isFetchedKeys = (dir: string, file: string) => {
  try {
    return realpathSync(file) === realpathSync(join(dir, FETCHED_KEYS));
  } catch {
    return false;
  }
};

/**
 * The keys `verify <dir>` checks with, and the file they came from if that is the folder's
 * verifier-keys.txt (fetch saved it from the server under test): such keys are not pinned.
 * Without --key, the folder's verifier-keys.txt is used, with that warning.
 */
function verifyKeys(dir: string, given: string[] | undefined): { keys: string[]; fromServer?: string } {
  if (given?.length) {
    const fromServer = given.find((k) => k.startsWith("@") && isFetchedKeys(dir, k.slice(1)))?.slice(1);
    return { keys: keysFrom(given), ...(fromServer ? { fromServer } : {}) };
  }
  const fetched = join(dir, FETCHED_KEYS);
  if (!existsSync(fetched)) throw new Usage(`--key is required (there is no ${FETCHED_KEYS} in ${dir} either)`);
  return { keys: keysFrom([`@${fetched}`]), fromServer: fetched };
}

function warnUnpinned(file: string) {
  console.error(
    [
      `WARNING: the verifier keys come from ${file}, which \`sealtrail fetch\` downloaded from the server`,
      "being verified. A server that rewrote its log could serve a key of its own as well: this run shows",
      "that the files agree with that key, not that the tenant's key signed them. Pin the tenant's key out",
      "of band (copy it from the console when you first see it, or get it from the tenant's auditor) and",
      "pass it with --key.",
    ].join("\n"),
  );
}

/** What the run did not cover: the entries past the last seal, or that their number is unknown. */
function tailLine(dir: string, r: DirReport): string {
  if (r.head === null) {
    return `Not covered: any entry after seq ${r.tree_size - 1}: the log's size when fetched is unknown (no ${HEAD_CHECKPOINT} in ${dir}; \`sealtrail fetch\` saves it).`;
  }
  const { size, unsealed, consistent } = r.head;
  if (unsealed === 0) return `Covered: the whole log as fetched (${plural(size, "entry", "entries")}).`;
  const proven = consistent ? ", proven to extend the last seal" : "; no proof it extends the last seal";
  return `Not covered: ${plural(unsealed, "entry", "entries")} past the last seal (seq ${r.tree_size} to ${size - 1}; the log's signed checkpoint said ${size} when fetched${proven}). They are covered once sealed: fetch and verify again later.`;
}

const json = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (x instanceof Uint8Array ? Buffer.from(x).toString("base64") : x), 2);

/** A progress line on stderr, only when it is a terminal. */
function progress(label: string) {
  if (!process.stderr.isTTY) return undefined;
  return (done: number, total: number, extra?: number) => {
    const width = 30;
    const filled = Math.round((done / Math.max(total, 1)) * width);
    process.stderr.write(
      `\r${label} [${"#".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total}${extra !== undefined ? `  ${extra} entries` : ""}`,
    );
    if (done === total) process.stderr.write("\n");
  };
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "help" || command === "--help" || command === "-h") {
    console.log(USAGE);
    return 0;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      entry: { type: "string" },
      "entry-raw": { type: "string" },
      key: { type: "string", multiple: true },
      json: { type: "boolean" },
      url: { type: "string" },
      tenant: { type: "string" },
      token: { type: "string" },
      out: { type: "string" },
      jobs: { type: "string" },
      entries: { type: "boolean" },
      previous: { type: "string" },
      state: { type: "string" },
      every: { type: "string" },
      witness: { type: "string", multiple: true },
      quorum: { type: "string" },
      "action-prefix": { type: "string" },
      actor: { type: "string" },
      from: { type: "string" },
    },
  });
  if (values.help && ["verify", "verify-proof", "fetch", "verify-tiles", "monitor"].includes(command ?? "")) {
    console.log(USAGE);
    return 0;
  }
  const policy = witnessPolicy(values.witness, values.quorum);
  if (typeof policy === "string") throw new Usage(policy);
  switch (command) {
    case "verify": {
      const [dir] = positionals;
      if (!dir) throw new Usage("verify needs a folder");
      const { keys, fromServer } = verifyKeys(dir, values.key);
      const verifiers = verifiersFrom(keys);
      if (!verifiers.ok) throw new Usage(`bad --key: ${verifiers.error.detail}`);
      if (fromServer) warnUnpinned(fromServer);
      const jobs = values.jobs === undefined ? availableParallelism() : Number(values.jobs);
      if (!Number.isSafeInteger(jobs) || jobs < 1) throw new Usage("--jobs must be a whole number >= 1");
      // With more than one core, worker threads read and precheck bundles (same report).
      const report =
        jobs > 1
          ? await verifyDirParallel(dir, verifiers.value, jobs, new URL(import.meta.url), progress("verifying"))
          : verifyDir(dir, verifiers.value, progress("verifying"));
      let cosignedBy: string[] | undefined;
      if (policy) {
        // The newest checkpoint must carry the quorum of the pinned witnesses' cosignatures.
        const newest = newestCheckpointIn(dir);
        const checked = newest
          ? checkWitnesses(newest.note, policy)
          : { ok: false as const, detail: "no checkpoint in the folder", found: 0 };
        if (checked.ok) cosignedBy = checked.cosigned_by;
        else {
          report.ok = false;
          report.failures.push({
            kind: "witness_quorum",
            key: newest?.file ?? HEAD_CHECKPOINT,
            detail: checked.detail,
            expected: policy.quorum,
            found: checked.found,
          });
        }
      }
      if (values.json)
        console.log(json({ ...report, keys_from_server: fromServer !== undefined, ...(cosignedBy ? { cosigned_by: cosignedBy } : {}) }));
      else if (report.ok) {
        const unpinned = fromServer ? ", against keys from the server under test (not pinned)" : "";
        console.log(
          `OK: ${plural(report.entries, "entry", "entries")} in ${plural(report.seals, "seal", "seals")} of ${report.origin} verified (tree size ${report.tree_size})${unpinned}`,
        );
        console.log(tailLine(dir, report));
        // Retention: bodies the log itself records as pruned (their leaf hashes were verified against the signed roots).
        if (report.pruned) console.log(`Pruned: ${describePruned(report.pruned)}; their leaf hashes verified, not their bodies.`);
        if (cosignedBy) console.log(`Witnessed: the newest checkpoint is cosigned by ${cosignedBy.join(", ")} (quorum ${policy!.quorum}).`);
      } else {
        console.error(`FAILED: ${report.failures.length} problem(s) in ${report.origin}; the first:`);
        console.error(json(report.failures[0]));
      }
      return report.ok ? 0 : 1;
    }
    case "verify-proof": {
      const [proofFile] = positionals;
      const raw = values["entry-raw"];
      if (!proofFile || (values.entry === undefined && raw === undefined))
        throw new Usage("verify-proof needs a proof file and --entry (or --entry-raw)");
      if (values.entry !== undefined && raw !== undefined)
        throw new Usage("give --entry (a Sealtrail entry) or --entry-raw (exact bytes), not both");
      const entry: EntryFile =
        raw !== undefined
          ? { format: "raw", bytes: readFileSync(raw) }
          : { format: "sealtrail", text: readFileSync(values.entry!, "utf8") };
      const report = verifyProofFiles(readFileSync(proofFile, "utf8"), entry, keysFrom(values.key), policy);
      if (values.json) console.log(json(report));
      else if (report.ok) {
        console.log(`OK: entry ${report.index} is in ${report.origin} at tree size ${report.tree_size} (checkpoint signature verified)`);
        if (report.cosigned_by)
          console.log(`Witnessed: the checkpoint is cosigned by ${report.cosigned_by.join(", ")} (quorum ${policy!.quorum}).`);
        if (report.unverified_fields)
          console.error(
            `note: not part of the entry's bytes, so not verified: ${report.unverified_fields.map((f) => `"${f}"`).join(", ")}`,
          );
      } else
        console.error(
          `FAILED: ${report.error ? describeProofFailure(report.error) : "unknown"}${report.origin ? ` (${report.origin})` : ""}`,
        );
      if (report.error?.reason === "bad_key") return 2;
      return report.ok ? 0 : 1;
    }
    case "fetch": {
      if (!values.url || !values.tenant || !values.token) throw new Usage("fetch needs --url, --tenant and --token");
      const out = values.out ?? `sealtrail-${values.tenant}`;
      const r = await fetchSnapshots({
        url: values.url,
        tenant: values.tenant,
        token: values.token,
        out,
        onProgress: progress("downloading"),
      });
      if (values.json) console.log(json({ out, ...r }));
      else {
        console.log(
          `Downloaded ${plural(r.seals, "snapshot", "snapshots")} (${plural(r.sealed, "entry", "entries")} sealed; the log holds ${r.head_size}) to ${out}.`,
        );
        if (r.pruned_seals > 0) {
          console.log(
            `${plural(r.pruned_seals, "snapshot's bundle was", "snapshots' bundles were")} pruned by retention: ` +
              "their leaf hashes were saved instead.",
          );
        }
        console.log(
          `Verify with the tenant's verifier key, pinned out of band (not the ${FETCHED_KEYS} just downloaded from this server):`,
        );
        console.log(`  sealtrail verify ${out} --key <verifier key>`);
      }
      return 0;
    }
    case "verify-tiles": {
      const [prefix] = positionals;
      if (!prefix) throw new Usage("verify-tiles needs the log's prefix URL");
      const verifiers = verifiersFrom(keysFrom(values.key));
      if (!verifiers.ok) throw new Usage(`bad --key: ${verifiers.error.detail}`);
      const report = await verifyTiles({
        get: httpTileGet(prefix, values.token),
        verifiers: verifiers.value,
        entries: values.entries ?? false,
        ...(values.previous !== undefined ? { previous: readFileSync(values.previous, "utf8") } : {}),
        onProgress: progress("tiles"),
      });
      if (values.json) console.log(json(report));
      else if (report.ok) {
        const entries = values.entries ? `, ${plural(report.entries, "entry", "entries")} hashed` : "";
        const extended = report.consistent_with !== undefined ? `; extends the checkpoint of size ${report.consistent_with}` : "";
        console.log(
          `OK: ${report.origin} at size ${report.size} verified from ${plural(report.tiles, "tile", "tiles")}${entries}${extended}`,
        );
        if (report.pruned) console.log(`Pruned: entry bundles below ${report.pruned.to} were ${describePruned(report.pruned)}.`);
      } else console.error(`FAILED: ${report.failure ? describeTileFailure(report.failure) : "unknown"}`);
      return report.ok ? 0 : 1;
    }
    case "monitor": {
      const [prefix] = positionals;
      if (!prefix) throw new Usage("monitor needs the log's prefix URL");
      const verifiers = verifiersFrom(keysFrom(values.key));
      if (!verifiers.ok) throw new Usage(`bad --key: ${verifiers.error.detail}`);
      const whole = (v: string | undefined, name: string, min: number) => {
        if (v === undefined) return undefined;
        const n = Number(v);
        if (!Number.isSafeInteger(n) || n < min) throw new Usage(`${name} must be a whole number >= ${min}`);
        return n;
      };
      const quorum = whole(values.quorum, "--quorum", 1);
      if (quorum !== undefined && quorum > (values.witness?.length ?? 0))
        throw new Usage("--quorum needs at least that many --witness keys");
      const every = whole(values.every, "--every", 1);
      const from = whole(values.from, "--from", 0);
      return monitor(
        {
          get: httpTileGet(prefix, values.token),
          verifiers: verifiers.value,
          state: values.state ?? ".sealtrail-monitor",
          ...(values.witness ? { witnesses: values.witness } : {}),
          ...(quorum !== undefined ? { quorum } : {}),
          ...(values["action-prefix"] !== undefined ? { actionPrefix: values["action-prefix"] } : {}),
          ...(values.actor !== undefined ? { actor: values.actor } : {}),
          ...(from !== undefined ? { from } : {}),
          ...(every !== undefined ? { everySeconds: every } : {}),
          out: (line) => console.log(line),
        },
        (line) => console.error(line),
      );
    }
    default:
      throw new Usage(command ? `unknown command ${command}` : "no command");
  }
}

// The CLI bundle is also the worker of `verify` (verifyDirParallel).
if (!isMainThread && (workerData as { role?: string } | null)?.role === PRECHECK_ROLE) runPrecheckWorker();
else
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (e: unknown) => {
      if (e instanceof Usage || (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS"))
        console.error(`${(e as Error).message}\n\n${USAGE}`);
      else console.error(`sealtrail: ${(e as Error).message}`);
      process.exitCode = 2;
    },
  );
