import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { utf8 } from "../../src/core/bytes";
import { addSignatureLines, cosign, cosignerFromSeed, COSIGNATURE_TYPE_ED25519 } from "../../src/core/cosignature";
import { parseVerifierKey } from "../../src/core/note";
import { EXIT_LOG_FAILED, EXIT_OK, EXIT_QUORUM, pollOnce, type MonitorOptions } from "../../src/cli/monitor";
import { verifyTiles, type TileGet } from "../../src/core/tile-client";
import { useNativeSha256 } from "../../src/runtime/native-sha256";
import { keyOf } from "./chain";
import { tiledLog } from "./tiled-log";

useNativeSha256();

const run = promisify(execFile);
const cli = async (...args: string[]) => {
  try {
    const { stdout, stderr } = await run(process.execPath, ["dist/sealtrail.mjs", ...args], { encoding: "utf8" });
    return { status: 0, stdout, stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { status: x.code, stdout: x.stdout, stderr: x.stderr };
  }
};

const TENANT = "acme";

const verifier = () => {
  const v = parseVerifierKey(keyOf(TENANT));
  if (!v.ok) throw new Error("key");
  return [v.value];
};

describe("verify from tiles only", () => {
  it("verifies Tessera's test log with this CLI's reader (src/core/tiles.ts)", async () => {
    const dir = join(import.meta.dirname, "../vectors/tessera-log");
    const get: TileGet = async (path) => (existsSync(join(dir, path)) ? new Uint8Array(readFileSync(join(dir, path))) : undefined);
    const v = parseVerifierKey("example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx");
    if (!v.ok) throw new Error("key");
    const report = await verifyTiles({
      get,
      verifiers: [v.value],
      entries: true,
      previous: readFileSync(join(dir, "checkpoint.7"), "utf8"),
    });
    expect(report).toMatchObject({ ok: true, size: 15, entries: 15, consistent_with: 7 });
  });

  it("verifies a 100,000-entry log from tiles alone, entries included", async () => {
    const log = tiledLog(100_000);
    const earlier = tiledLog(70_000);
    const report = await verifyTiles({ get: log.get, verifiers: verifier(), entries: true, previous: earlier.note });
    expect(report).toMatchObject({ ok: true, size: 100_000, entries: 100_000, tiles: 394, consistent_with: 70_000 });
  });

  it("entry bundles pruned below the floor the log records pass and are reported; one missing above it fails", async () => {
    // Entry 700 records that [0, 512) was pruned; entry bundles 0 and 1 are gone, as retention leaves them.
    const log = tiledLog(900, { pruned: { to: 512, at: 700 } });
    log.files.delete("tile/entries/000");
    log.files.delete("tile/entries/001");
    const report = await verifyTiles({ get: log.get, verifiers: verifier(), entries: true });
    expect(report).toMatchObject({
      ok: true,
      entries: 900 - 512,
      pruned: { from: 0, to: 512, under: 700, checkpoint: { size: 512, root: log.prunedRoot } },
    });
    // Above the pruned entry: a missing bundle fails.
    log.files.delete("tile/entries/003.p/132");
    expect((await verifyTiles({ get: log.get, verifiers: verifier(), entries: true })).failure).toEqual({
      reason: "missing_tile",
      path: "tile/entries/003.p/132",
    });
    // Without the log's pruned entry, a missing bundle is missing.
    const plain = tiledLog(900);
    plain.files.delete("tile/entries/000");
    expect((await verifyTiles({ get: plain.get, verifiers: verifier(), entries: true })).failure).toEqual({
      reason: "missing_tile",
      path: "tile/entries/000",
    });
  });

  it("names the tile or entry that does not match", async () => {
    const log = tiledLog(600);
    const tampered = new Uint8Array(log.files.get("tile/0/001")!);
    tampered[5]! ^= 1;
    log.files.set("tile/0/001", tampered);
    expect((await verifyTiles({ get: log.get, verifiers: verifier() })).failure).toEqual({
      reason: "bad_tile",
      path: "tile/1/000.p/2",
      detail: "hash 1 is not the root of the tile below",
    });
    const other = tiledLog(600);
    const bundle = new Uint8Array(other.files.get("tile/entries/002.p/88")!);
    bundle[40]! ^= 1;
    other.files.set("tile/entries/002.p/88", bundle);
    expect((await verifyTiles({ get: other.get, verifiers: verifier(), entries: true })).failure).toMatchObject({
      reason: "bad_entry",
      index: 512,
    });
    // Another log's checkpoint, signed with its own key, is not this log's.
    const forked = tiledLog(600, { fork: true });
    expect((await verifyTiles({ get: tiledLog(700).get, verifiers: verifier(), previous: forked.note })).failure).toMatchObject({
      reason: "fork",
    });
  });
});

describe("sealtrail monitor", () => {
  const options = (get: TileGet, state: string, more: Partial<MonitorOptions> = {}): MonitorOptions => ({
    get,
    verifiers: verifier(),
    state,
    nowMs: 1_795_000_000_000,
    out: () => {},
    ...more,
  });

  it("monitor: bundles pruned below the log's floor are noted and skipped; a bundle missing above it fails", async () => {
    const log = tiledLog(900, { pruned: { to: 512, at: 700 } });
    log.files.delete("tile/entries/000");
    log.files.delete("tile/entries/001");
    const lines: string[] = [];
    const state = mkdtempSync(join(tmpdir(), "sealtrail-monitor-"));
    const r = await pollOnce(options(log.get, state, { from: 0, actionPrefix: "sealtrail.", out: (l) => lines.push(l) }));
    expect(r.code).toBe(EXIT_OK);
    expect(r.matches.map((m) => m.seq)).toEqual([700]);
    expect(lines).toContain(`note: entries [0, 256) were pruned [0, 512) under entry 700 (checkpoint size 512, root ${log.prunedRoot})`);
    log.files.delete("tile/entries/002");
    const failed = await pollOnce(options(log.get, mkdtempSync(join(tmpdir(), "sealtrail-monitor-")), { from: 0, actionPrefix: "x" }));
    expect(failed.code).toBe(EXIT_LOG_FAILED);
  });

  it("stores the first checkpoint, accepts one that extends it, and flags a fork signed with the log's key, with evidence", async () => {
    const state = mkdtempSync(join(tmpdir(), "sealtrail-monitor-"));
    expect((await pollOnce(options(tiledLog(300).get, state))).code).toBe(EXIT_OK);
    const grown = await pollOnce(options(tiledLog(700).get, state));
    expect(grown).toMatchObject({ code: EXIT_OK, size: 700, message: expect.stringContaining("consistent with size 300") });

    const fork = tiledLog(900, { fork: true });
    const flagged = await pollOnce(options(fork.get, state));
    expect(flagged.code).toBe(EXIT_LOG_FAILED);
    expect(flagged.message).toMatch(/fork at size 900: not consistent with size 700/);
    const evidence = flagged.evidence!;
    expect(readFileSync(join(evidence, "old.checkpoint"), "utf8")).toBe(tiledLog(700).note);
    expect(readFileSync(join(evidence, "new.checkpoint"), "utf8")).toBe(fork.note);
    const proof = JSON.parse(readFileSync(join(evidence, "consistency.json"), "utf8")) as { from: number; to: number; hashes: string[] };
    expect(proof).toMatchObject({ from: 700, to: 900 });
    expect(proof.hashes.length).toBeGreaterThan(0);
    expect(readdirSync(join(evidence, "tile")).length).toBeGreaterThan(0);
    // The stored checkpoint is still the good one.
    expect(readFileSync(join(state, "checkpoint"), "utf8")).toBe(tiledLog(700).note);

    // Same size, another root: a fork too; a smaller size: a rollback.
    expect((await pollOnce(options(tiledLog(700, { fork: true }).get, state))).message).toMatch(/fork at size 700: two roots/);
    expect((await pollOnce(options(tiledLog(500).get, state))).message).toMatch(/went back from size 700 to 500/);
  });

  it("requires k witness cosignatures", async () => {
    const state = mkdtempSync(join(tmpdir(), "sealtrail-monitor-"));
    const witness = cosignerFromSeed("witness.example/w1", COSIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(7));
    if (!witness.ok) throw new Error("witness");
    const log = tiledLog(300);
    const missing = await pollOnce(options(log.get, state, { witnesses: [witness.value.key.vkey], quorum: 1 }));
    expect(missing.code).toBe(EXIT_QUORUM);
    expect(existsSync(join(state, "checkpoint"))).toBe(false);
    const body = log.note.slice(0, log.note.indexOf("\n\n") + 1);
    const line = cosign(witness.value, body, 1_795_000_000);
    if (!line.ok) throw new Error("cosign");
    const cosigned = addSignatureLines(log.note, line.value);
    if (!cosigned.ok) throw new Error("add");
    log.files.set("checkpoint", utf8(cosigned.value));
    expect((await pollOnce(options(log.get, state, { witnesses: [witness.value.key.vkey], quorum: 1 }))).code).toBe(EXIT_OK);
  });

  it("reports new entries matching a rule, each once", async () => {
    const state = mkdtempSync(join(tmpdir(), "sealtrail-monitor-"));
    const actions = (seq: number) => (seq % 100 === 3 ? "admin.delete" : "doc.read");
    const first = await pollOnce(options(tiledLog(250, { actions }).get, state, { actionPrefix: "admin.", from: 0 }));
    expect(first.matches.map((m) => m.seq)).toEqual([3, 103, 203]);
    const second = await pollOnce(options(tiledLog(520, { actions }).get, state, { actionPrefix: "admin.", actor: "u3" }));
    // seq 303 (u2), 403 (u4), 503 (u6) are admin actions; only actor u3 matches: none here but 3 (already reported).
    expect(second.matches).toEqual([]);
    const third = await pollOnce(options(tiledLog(1000, { actions }).get, state, { actionPrefix: "admin." }));
    expect(third.matches.map((m) => m.seq)).toEqual([603, 703, 803, 903]);
  });
});

describe("the CLI over HTTP", () => {
  let server: Server;
  let base: string;
  let log = tiledLog(600);
  beforeAll(async () => {
    server = createServer((req, res) => {
      const path = new URL(req.url!, "http://x").pathname.replace(/^\/logs\/acme\//, "");
      const body = log.files.get(path);
      if (req.headers.authorization !== "Bearer tok") return res.writeHead(401).end();
      if (!body) return res.writeHead(404).end();
      res.writeHead(200).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/logs/acme/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("verify-tiles and monitor answer with their exit codes", async () => {
    const ok = await cli("verify-tiles", base, "--key", keyOf(TENANT), "--token", "tok", "--entries");
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/OK: sealtrail.test\/acme at size 600 verified from 4 tiles, 600 entries hashed/);
    const state = mkdtempSync(join(tmpdir(), "sealtrail-monitor-"));
    expect((await cli("monitor", base, "--key", keyOf(TENANT), "--token", "tok", "--state", state)).status).toBe(0);
    log = tiledLog(800, { fork: true });
    const forked = await cli("monitor", base, "--key", keyOf(TENANT), "--token", "tok", "--state", state);
    expect(forked.status).toBe(1);
    expect(forked.stderr).toMatch(/fork at size 800[\s\S]*evidence saved in/);
    const noToken = await cli("verify-tiles", base, "--key", keyOf(TENANT));
    expect(noToken.status).toBe(2);
    writeFileSync(join(state, "unused"), "");
  });
});
