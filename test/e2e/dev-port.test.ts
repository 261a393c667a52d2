/**
 * `PORT=N npm run dev` (scripts/dev.mjs as a user runs it, with its own state folder): the
 * console is served on N, and signing in there works from both addresses a person may type
 * (http://localhost:N and http://127.0.0.1:N), as does a change made with the cookie session.
 * Before, the auth base URL and the trusted origins stayed on 8787: better-auth answered
 * 403 INVALID_ORIGIN. E2E_DEV_PORT chooses the port (default 8796).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

const PORT = Number(process.env.E2E_DEV_PORT ?? 8796);
const API = `http://127.0.0.1:${PORT}`;
let dev: ChildProcess;
let state: string;
let output = "";

async function listening(): Promise<boolean> {
  return fetch(`${API}/healthz`).then(
    (r) => r.ok,
    () => false,
  );
}

beforeAll(async () => {
  if (await listening()) throw new Error(`port ${PORT} is already in use: stop what runs there, or set E2E_DEV_PORT`);
  state = mkdtempSync(join(tmpdir(), "sealtrail-dev-port-"));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(PORT),
    SEALTRAIL_DEV_STATE: state,
    PATH: `${resolve("node_modules/.bin")}${delimiter}${process.env.PATH ?? ""}`,
  };
  // Its own process group, so that the test ends wrangler and workerd with it.
  dev = spawn(process.execPath, ["scripts/dev.mjs"], { env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  dev.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  dev.stderr?.on("data", (d: Buffer) => (output += d.toString()));
  const deadline = Date.now() + 120_000;
  while (!(await listening())) {
    if (dev.exitCode !== null) throw new Error(`npm run dev exited (${dev.exitCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`npm run dev did not serve on ${PORT} within 120 s:\n${output}`);
    await new Promise((r) => setTimeout(r, 300));
  }
});

afterAll(async () => {
  if (dev?.pid) {
    try {
      process.kill(-dev.pid, "SIGTERM");
    } catch {
      // Already gone.
    }
    await new Promise((r) => setTimeout(r, 500));
    try {
      process.kill(-dev.pid, "SIGKILL");
    } catch {
      // Gone.
    }
  }
  if (state) rmSync(state, { recursive: true, force: true });
});

const cookieOf = (res: Response) =>
  res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");

describe(`PORT=${PORT} npm run dev`, () => {
  test("serves the console on that port", async () => {
    const res = await fetch(`http://localhost:${PORT}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("<script");
  });

  for (const origin of [`http://localhost:${PORT}`, `http://127.0.0.1:${PORT}`]) {
    test(`sign-up from ${origin} works, and so does a cookie change from there`, async () => {
      const email = `port-${origin.includes("localhost") ? "l" : "i"}-${Date.now().toString(36)}@example.com`;
      const signUp = await fetch(`${origin}/api/auth/sign-up/email`, {
        method: "POST",
        headers: { "content-type": "application/json", origin },
        body: JSON.stringify({ email, password: "correct horse battery", name: "Ada" }),
      });
      expect(signUp.status, await signUp.clone().text()).toBe(200);
      const cookie = cookieOf(signUp);
      expect(cookie).toContain("session_token");

      const created = await fetch(`${origin}/api/auth/organization/create`, {
        method: "POST",
        headers: { "content-type": "application/json", origin, cookie },
        body: JSON.stringify({ name: "Acme", slug: `acme-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}` }),
      });
      expect(created.status, await created.clone().text()).toBe(200);
      const tenant = ((await created.json()) as { id: string }).id;

      // A change on /v1 with the cookie session, from a page of that origin.
      const put = await fetch(`${origin}/v1/tenants/${tenant}/settings`, {
        method: "PUT",
        headers: { "content-type": "application/json", origin, cookie },
        body: JSON.stringify({ seal_interval_seconds: 120 }),
      });
      expect(put.status, await put.clone().text()).toBe(200);
      const settings = await fetch(`${origin}/v1/tenants/${tenant}/settings`, { headers: { cookie } });
      expect(((await settings.json()) as { seal_interval_seconds: number }).seal_interval_seconds).toBe(120);

      // And the checkpoint origin is the local one.
      const keys = await fetch(`${origin}/v1/keys?tenant=${tenant}`);
      expect(await keys.text()).toContain(`sealtrail.localhost/${tenant}+`);
    });
  }
});
