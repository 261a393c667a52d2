/**
 * The bench's tile_verify row: a 100,000-entry tenant log as c2sp.org/tlog-tiles (test/cli/tiled-log.ts),
 * served over loopback HTTP, verified by the bundled CLI from tiles alone (`sealtrail verify-tiles
 * --entries`: every hash tile, every entry bundle). Bundled and run by bench/run.mjs; prints
 * {entries, ms, ok} as JSON (ms: the CLI's run, startup included).
 */
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { useNativeSha256 } from "../src/runtime/native-sha256";
import { keyOf } from "../test/cli/chain";
import { tiledLog } from "../test/cli/tiled-log";

useNativeSha256();
const entries = Number(process.argv[2] ?? "100000");
const log = tiledLog(entries);
const server = createServer((req, res) => {
  const body = log.files.get(new URL(req.url!, "http://x").pathname.slice(1));
  if (!body) return res.writeHead(404).end();
  res.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
});
server.listen(0, "127.0.0.1", () => {
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const t0 = performance.now();
  execFile(
    process.execPath,
    ["dist/sealtrail.mjs", "verify-tiles", url, "--key", keyOf("acme"), "--entries", "--json"],
    { maxBuffer: 1 << 24 },
    (error, stdout) => {
      const ms = performance.now() - t0;
      const report = JSON.parse(stdout || "{}") as { ok?: boolean; entries?: number };
      console.log(JSON.stringify({ entries: report.entries, ms, ok: !error && report.ok === true }));
      server.close();
    },
  );
});
