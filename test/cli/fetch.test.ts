import { execFile } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { entryLeafHash } from "../../src/core/entry";
import { keyOf, writeChain, writeHead } from "./chain";

const run = promisify(execFile);
/** The bundled CLI, run asynchronously: the HTTP server below answers from this process. */
const cli = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await run(process.execPath, ["dist/sealtrail.mjs", ...args], { encoding: "utf8" });
    return { status: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { status: x.code, stdout: x.stdout, stderr: x.stderr };
  }
};

/**
 * Serves a chain of seals the way the Worker's routes do (paths, bodies, the verify key),
 * from files written by the same code the Durable Object seals with (./chain.ts).
 */
function serveChain(dir: string, token: string, pruned?: { ids: string[]; level0: Uint8Array }): Server {
  const seals = readdirSync(dir)
    .filter((f) => f.endsWith(".manifest"))
    .sort();
  const file = (name: string) => readFileSync(join(dir, name), "utf8");
  return createServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    const send = (status: number, body: string) => res.writeHead(status).end(body);
    if (url.pathname === "/v1/keys") return send(200, JSON.stringify({ keys: [{ verifier_key: keyOf("acme") }] }));
    if (req.headers.authorization !== `Bearer ${token}`) return send(401, "{}");
    // Retention: a pruned bundle is 410; the level-0 hash tile holds its leaves.
    if (pruned && url.pathname === "/logs/acme/tile/0/000") return res.writeHead(200).end(Buffer.from(pruned.level0));
    const gone = /^\/v1\/tenants\/acme\/snapshots\/([0-9]{12})\/bundle$/.exec(url.pathname);
    if (pruned && gone && pruned.ids.includes(gone[1]!)) return send(410, '{"error":{"code":"bundle_pruned"}}');
    const p = url.pathname.replace("/v1/tenants/acme", "");
    if (p === "/snapshots") {
      const snapshots = seals.map((m) => {
        const { from, to } = JSON.parse(file(m).split("\n")[0]!) as { from: number; to: number };
        return { id: m.slice(0, 12), from, to };
      });
      return send(200, JSON.stringify({ snapshots, next_cursor: null }));
    }
    const snap = /^\/snapshots\/([0-9]{12})(\/checkpoint|\/bundle)?$/.exec(p);
    if (snap) return send(200, file(`${snap[1]}.${{ "": "manifest", "/checkpoint": "checkpoint", "/bundle": "jsonl" }[snap[2] ?? ""]}`));
    if (p === "/checkpoint") return send(200, file("head.checkpoint"));
    if (p === "/proof/consistency") {
      const proof = JSON.parse(file("head.consistency.json")) as { from: number; to: number };
      const asked = `${url.searchParams.get("from")}-${url.searchParams.get("to")}`;
      return asked === `${proof.from}-${proof.to}` ? send(200, JSON.stringify(proof)) : send(400, "{}");
    }
    send(404, "{}");
  });
}

describe("sealtrail fetch, then verify", () => {
  const token = "st_verify_test";
  const server = writeChain("acme", [5, 7]);
  writeHead(server.dir, "acme", 12, { unsealed: 4 });
  const http = serveChain(server.dir, token);
  let base = "";
  beforeAll(async () => {
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    http.close();
    rmSync(server.dir, { recursive: true, force: true });
  });

  it("saves the log's signed head, so verify can say what is not covered; it tells you to pin the key", async () => {
    const out = join(server.dir, "..", `${server.dir.split("/").at(-1)}-fetched`);
    const f = await cli("fetch", "--url", base, "--tenant", "acme", "--token", token, "--out", out);
    expect(f.status, f.stderr).toBe(0);
    expect(f.stdout).toContain("Downloaded 2 snapshots (12 entries sealed; the log holds 16)");
    expect(f.stdout).toContain("pinned out of band");
    expect(f.stdout).toContain(`sealtrail verify ${out} --key <verifier key>`);
    expect(readdirSync(out).sort()).toEqual([
      "000000000000.checkpoint",
      "000000000000.jsonl",
      "000000000000.manifest",
      "000000000001.checkpoint",
      "000000000001.jsonl",
      "000000000001.manifest",
      "head.checkpoint",
      "head.consistency.json",
      "verifier-keys.txt",
    ]);
    const v = await cli("verify", out, "--key", keyOf("acme"));
    expect(v.status, v.stderr).toBe(0);
    expect(v.stderr).toBe("");
    expect(v.stdout).toContain(
      "Not covered: 4 entries past the last seal (seq 12 to 15; the log's signed checkpoint said 16 when fetched, proven to extend the last seal)",
    );
    const unpinned = await cli("verify", out);
    expect(unpinned.status).toBe(0);
    expect(unpinned.stderr).toContain("WARNING: the verifier keys come from");
    rmSync(out, { recursive: true, force: true });
  });

  it("a head from an earlier fetch is replaced", async () => {
    const out = join(server.dir, "..", `${server.dir.split("/").at(-1)}-refetched`);
    await cli("fetch", "--url", base, "--tenant", "acme", "--token", token, "--out", out);
    writeFileSync(join(out, "head.consistency.json"), "stale");
    writeFileSync(join(out, "head.checkpoint"), "stale");
    const again = await cli("fetch", "--url", base, "--tenant", "acme", "--token", token, "--out", out, "--json");
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ seals: 2, sealed: 12, head_size: 16 });
    expect((await cli("verify", out, "--key", keyOf("acme"))).status).toBe(0);
    rmSync(out, { recursive: true, force: true });
  });
});

describe("sealtrail fetch, then verify, after retention pruned the first seal", () => {
  const token = "st_verify_test";
  // Seal 0 = [0, 256) (one full hash tile), seal 1 = [256, 263); entry 260 records the pruned range.
  const first = writeChain("acme", [256]);
  const root = readFileSync(join(first.dir, "000000000000.checkpoint"), "utf8").split("\n")[2]!;
  rmSync(first.dir, { recursive: true, force: true });
  const server = writeChain("acme", [256, 7], {
    260: {
      action: "sealtrail.retention.pruned",
      actor: { id: "schedule", type: "system" },
      metadata: { from: 0, to: 256, cutoff: "2026-11-01T00:00:00.000Z", checkpoint: { size: 256, root }, by: "schedule" },
    },
  });
  // The head is the last seal's checkpoint (nothing unsealed).
  copyFileSync(join(server.dir, "000000000001.checkpoint"), join(server.dir, "head.checkpoint"));
  const level0 = new Uint8Array(Buffer.concat(server.entries.slice(0, 256).map((e) => entryLeafHash(e))));
  const http = serveChain(server.dir, token, { ids: ["000000000000"], level0 });
  let base = "";
  beforeAll(async () => {
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterAll(() => {
    http.close();
    rmSync(server.dir, { recursive: true, force: true });
  });

  it("saves the pruned seal's leaf hashes instead of its bundle; verify passes and says what was pruned", async () => {
    const out = join(server.dir, "..", `${server.dir.split("/").at(-1)}-pruned`);
    const f = await cli("fetch", "--url", base, "--tenant", "acme", "--token", token, "--out", out);
    expect(f.status, f.stderr).toBe(0);
    expect(f.stdout).toContain("1 snapshot's bundle was pruned by retention: their leaf hashes were saved instead.");
    expect(readdirSync(out)).toContain("000000000000.leaves");
    expect(readdirSync(out)).not.toContain("000000000000.jsonl");
    const v = await cli("verify", out, "--key", keyOf("acme"));
    expect(v.status, v.stderr + v.stdout).toBe(0);
    expect(v.stdout).toContain(`Pruned: pruned [0, 256) under entry 260 (checkpoint size 256, root ${root})`);
    rmSync(out, { recursive: true, force: true });
  });
});
