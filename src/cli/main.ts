#!/usr/bin/env node
/**
 * sealtrail: offline verification of Sealtrail logs. Exit codes: 0 verified, 1 verification
 * failed (tampering or a wrong key), 2 usage or I/O error.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { verifyProofFiles } from "./verify-proof";

const USAGE = `usage:
  sealtrail verify-proof <file.tlog-proof> --entry <entry file> --key <verifier key> [--key …] [--json]

  --entry   the entry's exact bytes, or the JSON of GET /v1/tenants/:t/events/:seq
  --key     a verifier key from GET /v1/keys ("<origin>+<key id>+<key>"); repeat for rotated keys
  --json    print the report as JSON
exit codes: 0 verified, 1 verification failed, 2 usage or I/O error`;

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command !== "verify-proof") {
    console.error(USAGE);
    return 2;
  }
  let args;
  try {
    args = parseArgs({
      args: rest,
      allowPositionals: true,
      options: { entry: { type: "string" }, key: { type: "string", multiple: true }, json: { type: "boolean" } },
    });
  } catch (e) {
    console.error(`${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [proofFile] = args.positionals;
  if (!proofFile || !args.values.entry || !args.values.key?.length) {
    console.error(USAGE);
    return 2;
  }
  let proofText: string, entryText: string;
  try {
    proofText = readFileSync(proofFile, "utf8");
    entryText = readFileSync(args.values.entry, "utf8");
  } catch (e) {
    console.error(`sealtrail: ${(e as Error).message}`);
    return 2;
  }
  const report = verifyProofFiles(proofText, entryText, args.values.key);
  if (args.values.json) {
    console.log(JSON.stringify(report, (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v)));
  } else if (report.ok) {
    console.log(`OK: entry ${report.index} is in ${report.origin} at tree size ${report.tree_size} (checkpoint signature verified)`);
  } else {
    console.error(`FAILED: ${report.error?.reason ?? "unknown"}${report.origin ? ` (${report.origin})` : ""}`);
  }
  if (report.error?.reason === "bad_key") return 2;
  return report.ok ? 0 : 1;
}

process.exitCode = main(process.argv.slice(2));
