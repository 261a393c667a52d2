/**
 * `npm run witness` (scripts/witness.mjs as a user runs it, with its own state folder): it makes a
 * key on first run, prints the vkey it then cosigns with, serves add-checkpoint on PORT, keeps its
 * key and its state across restarts, and `--type ed25519` makes an Ed25519 witness.
 * With a local Sealtrail beside it (test/e2e/server.ts, on the next port), `--tenant` trusts a tenant's
 * published key and the witness cosigns that tenant's checkpoints as its log grows.
 * E2E_WITNESS_PORT chooses the witness's port (default 8797; that Sealtrail uses the next one).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { fromBase64 } from "../../src/core/bytes";
import {
  checkQuorum,
  COSIGNATURE_TYPE_ED25519,
  COSIGNATURE_TYPE_ML_DSA_44,
  parseCosignerKey,
  type CosignerKey,
} from "../../src/core/cosignature";
import { nodeHash, sha256Hex, type Hash } from "../../src/core/hash";
import { consistencyProof } from "../../src/core/merkle";
import { formatAddCheckpoint } from "../../src/core/tlog-witness";
import { startServer } from "./server";

const PORT = Number(process.env.E2E_WITNESS_PORT ?? 8797);
const URL_ = `http://127.0.0.1:${PORT}`;
const TESSERA_KEY = "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx";
const tessera = JSON.parse(readFileSync("test/vectors/tessera/log.json", "utf8")) as {
  origin: string;
  checkpoints: Record<string, string>;
  tile_0_000_p15_b64: string;
};
const leaves = fromBase64(tessera.tile_0_000_p15_b64)!;
const read = (level: number, index: number): Hash =>
  level === 0 ? leaves.subarray(index * 32, index * 32 + 32) : nodeHash(read(level - 1, 2 * index), read(level - 1, 2 * index + 1));

const states: string[] = [];
let running: ChildProcess | undefined;

const up = () =>
  fetch(`${URL_}/`).then(
    (r) => r.ok,
    () => false,
  );

/** Starts `npm run witness` (scripts/witness.mjs) and waits until it serves; returns its output so far. */
async function start(state: string, args: string[]): Promise<string> {
  if (await up()) throw new Error(`port ${PORT} is already in use: stop what runs there, or set E2E_WITNESS_PORT`);
  let output = "";
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(PORT),
    WITNESS_DEV_STATE: state,
    PATH: `${resolve("node_modules/.bin")}${delimiter}${process.env.PATH ?? ""}`,
  };
  delete env.WITNESS_PRIVATE_KEY; // vitest.config.ts sets the test witness's key in process.env
  // Its own process group, so that stopping it ends wrangler and workerd too.
  running = spawn(process.execPath, ["scripts/witness.mjs", ...args], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  running.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  running.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 120_000;
  while (!(await up())) {
    if (running.exitCode !== null) throw new Error(`npm run witness exited (${running.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`npm run witness did not serve on ${PORT} within 120 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  return output;
}

async function stop(): Promise<void> {
  const pid = running?.pid;
  running = undefined;
  if (!pid) return;
  for (const signal of ["SIGTERM", "SIGKILL"] as const) {
    try {
      process.kill(-pid, signal);
    } catch {
      return; // Gone.
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
  const deadline = Date.now() + 10_000;
  while ((await up()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
}

afterAll(async () => {
  await stop();
  for (const s of states) rmSync(s, { recursive: true, force: true });
});

const newState = () => {
  const dir = mkdtempSync(join(tmpdir(), "sealtrail-witness-dev-"));
  states.push(dir);
  return dir;
};

const submit = (oldSize: number, proof: Hash[], checkpoint: string) =>
  fetch(`${URL_}/add-checkpoint`, { method: "POST", body: formatAddCheckpoint({ oldSize, proof, checkpoint }) });

function printedKey(output: string): CosignerKey {
  const vkey = /vkey: (\S+)/.exec(output)?.[1];
  const key = vkey ? parseCosignerKey(vkey) : undefined;
  if (!key?.ok) throw new Error(`no vkey printed:\n${output}`);
  return key.value;
}

describe(`npm run witness on port ${PORT}`, () => {
  test("makes an ML-DSA-44 key, prints its vkey, cosigns a Tessera checkpoint with it, and keeps key and state across a restart", async () => {
    const state = newState();
    const first = await start(state, ["--log", TESSERA_KEY]);
    const key = printedKey(first);
    expect(key.type).toBe(COSIGNATURE_TYPE_ML_DSA_44);
    expect(key.name).toBe("witness.localhost");
    expect(first).toContain(`SEALTRAIL_WITNESSES=${key.vkey}@${URL_}`);
    expect(statSync(join(state, ".dev.vars.witness")).mode & 0o777).toBe(0o600);
    const info = (await (await fetch(`${URL_}/`)).json()) as { vkey: string; logs: { origin: string }[] };
    expect(info.vkey).toBe(key.vkey);
    expect(info.logs.map((l) => l.origin)).toEqual([tessera.origin]);

    const three = tessera.checkpoints["3"]!;
    const res = await submit(0, [], three);
    const lines = await res.text();
    expect(res.status, lines).toBe(200);
    expect(checkQuorum(`${three}${lines}`, [key], 1).ok).toBe(true);
    await stop();

    // Restarted: the same key, and it remembers size 3.
    const again = await start(state, ["--log", TESSERA_KEY]);
    expect(printedKey(again).vkey).toBe(key.vkey);
    const stale = await submit(0, [], tessera.checkpoints["15"]!);
    expect(stale.status).toBe(409);
    expect(await stale.text()).toBe("3\n");
    const fifteen = await submit(3, consistencyProof(3, 15, read), tessera.checkpoints["15"]!);
    expect(fifteen.status).toBe(200);
    const served = await (await fetch(`${URL_}/${sha256Hex(tessera.origin)}/checkpoint`)).text();
    expect(served.split("\n")[1]).toBe("15");
    expect(checkQuorum(served, [key], 1).ok).toBe(true);
    await stop();
  });

  test("--type ed25519 --name makes an Ed25519 cosignature/v1 witness", async () => {
    const output = await start(newState(), ["--type", "ed25519", "--name", "witness.test/ed", "--log", TESSERA_KEY]);
    const key = printedKey(output);
    expect(key.type).toBe(COSIGNATURE_TYPE_ED25519);
    expect(key.name).toBe("witness.test/ed");
    const three = tessera.checkpoints["3"]!;
    const res = await submit(0, [], three);
    expect(res.status).toBe(200);
    expect(checkQuorum(`${three}${await res.text()}`, [key], 1).ok).toBe(true);
    await stop();
  });

  test("--tenant trusts a local Sealtrail tenant's published key; the witness cosigns its checkpoints as the log grows", async () => {
    // On a port of its own (the witness port + 1): the console tests use E2E_PORT at the same time.
    const sealtrail = await startServer(PORT + 1);
    try {
      const origin = sealtrail.base;
      const email = `witness-${Date.now().toString(36)}@example.com`;
      const signUp = await fetch(`${origin}/api/auth/sign-up/email`, {
        method: "POST",
        headers: { "content-type": "application/json", origin },
        body: JSON.stringify({ email, password: "correct horse battery", name: "Ada" }),
      });
      expect(signUp.status).toBe(200);
      const cookie = signUp.headers
        .getSetCookie()
        .map((c) => c.split(";")[0])
        .join("; ");
      const created = await fetch(`${origin}/api/auth/organization/create`, {
        method: "POST",
        headers: { "content-type": "application/json", origin, cookie },
        body: JSON.stringify({ name: "Acme", slug: `acme-${Date.now().toString(36)}` }),
      });
      expect(created.status).toBe(200);
      const tenant = ((await created.json()) as { id: string }).id;
      // A logged change, so that the log grows (settings changes are entries of the tenant's log).
      const changeSettings = async (seconds: number) => {
        const put = await fetch(`${origin}/v1/tenants/${tenant}/settings`, {
          method: "PUT",
          headers: { "content-type": "application/json", origin, cookie },
          body: JSON.stringify({ seal_interval_seconds: seconds }),
        });
        expect(put.status).toBe(200);
      };
      const checkpointNow = async () => (await fetch(`${origin}/v1/tenants/${tenant}/checkpoint`, { headers: { cookie } })).text();

      const output = await start(newState(), ["--tenant", tenant, "--sealtrail", origin]);
      const key = printedKey(output);
      expect(output).toContain(`witnesses: sealtrail.localhost/${tenant}`);
      await changeSettings(90);
      const first = await checkpointNow();
      const size = Number(first.split("\n")[1]);
      expect(size).toBeGreaterThan(0);
      const res = await submit(0, [], first);
      const lines = await res.text();
      expect(res.status, lines).toBe(200);
      expect(checkQuorum(`${first}${lines}`, [key], 1).ok).toBe(true);

      // The log grows (a settings change is logged); the next checkpoint, with Sealtrail's own consistency proof.
      await changeSettings(120);
      const next = await checkpointNow();
      const nextSize = Number(next.split("\n")[1]);
      expect(nextSize).toBeGreaterThan(size);
      // From size 0 nothing needs proving (tlog-witness: the proof from size 0 is empty).
      let proof: Hash[] = [];
      if (size > 0) {
        const res = await fetch(`${origin}/v1/tenants/${tenant}/proof/consistency?from=${size}&to=${nextSize}`, { headers: { cookie } });
        const body = await res.text();
        expect(res.status, body).toBe(200);
        proof = (JSON.parse(body) as { hashes: string[] }).hashes.map((h) => fromBase64(h)!);
      }
      const grown = await submit(size, proof, next);
      const grownLines = await grown.text();
      expect(grown.status, grownLines).toBe(200);
      expect(checkQuorum(`${next}${grownLines}`, [key], 1).ok).toBe(true);
    } finally {
      await stop();
      sealtrail.stop();
    }
  });
});
