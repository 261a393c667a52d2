// `npm run soak`: events through the real HTTP path of a local Sealtrail (wrangler dev on
// workerd, its own state folder), across 10 tenants, with seals running; then a seal and a
// full verification of every tenant. Prints: 0 lost, 0 duplicated, all verified, time, peak
// memory. Options: --events N (default 1,000,000), --tenants N (10), --concurrency N (16).
// Bounded: stops by itself; talks only to 127.0.0.1.
import { spawn, spawnSync, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({
  options: {
    events: { type: "string", default: "1000000" },
    tenants: { type: "string", default: "10" },
    concurrency: { type: "string", default: "16" },
    port: { type: "string", default: "8791" },
  },
});
const EVENTS = Number(values.events);
const TENANTS = Number(values.tenants);
const CONCURRENCY = Number(values.concurrency);
const BATCH = 100;
const DEADLINE_MS = 60 * 60 * 1000;
const B = `http://127.0.0.1:${values.port}`;

try {
  await fetch(`${B}/healthz`);
  throw new Error(`port ${values.port} is already in use: stop what runs there, or pass --port`);
} catch (e) {
  if (e instanceof Error && e.message.startsWith("port")) throw e;
}
const state = mkdtempSync(join(tmpdir(), "sealtrail-soak-"));
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", X_LOCAL_OBSERVABILITY: "false" };
const secret = () => Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("base64url");
// Every database gets every migration (the control database DB and each tenant data shard).
const migrate = spawnSync("node", ["scripts/migrate-local.mjs", "--persist-to", state], { env, stdio: "ignore" });
if (migrate.status !== 0) throw new Error("migrations failed");
const dev = spawn(
  "wrangler",
  [
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    values.port,
    "--persist-to",
    state,
    "--var",
    `BETTER_AUTH_SECRET:${secret()}`,
    "--var",
    `SEALTRAIL_SIGNING_SECRET:${secret()}`,
    "--var",
    `SEALTRAIL_SUBJECT_KEY_SECRET:${secret()}`,
    "--var",
    `BETTER_AUTH_URL:${B}`,
  ],
  { env, stdio: "ignore", detached: true },
);
let stopped = false;
const stop = () => {
  if (stopped) return;
  stopped = true;
  // wrangler's processes name the state folder; workerd's name the port.
  spawnSync("pkill", ["-f", state]);
  spawnSync("pkill", ["-f", `entry=127.0.0.1:${values.port}`]);
  try {
    process.kill(-dev.pid, "SIGKILL");
  } catch {}
  rmSync(state, { recursive: true, force: true });
};
process.on("uncaughtException", (e) => {
  console.error(e);
  stop();
  process.exit(2);
});

/** Peak resident memory of the workerd processes (VmHWM), in MiB. */
function peakMemoryMiB() {
  let peak = 0;
  for (const pid of execFileSync("pgrep", ["-f", "workerd"], { encoding: "utf8" }).trim().split("\n")) {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      if (m) peak += Number(m[1]) / 1024;
    } catch {}
  }
  return Math.round(peak);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function call(path, init = {}, ip = "2001:db8:5::1") {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(`${B}${path}`, {
      ...init,
      headers: { "content-type": "application/json", origin: B, "cf-connecting-ip": ip, ...init.headers },
    });
    if ((res.status === 503 || res.status === 429) && attempt < 20) {
      await sleep(Number(res.headers.get("retry-after") ?? "1") * 1000);
      continue;
    }
    return res;
  }
}
const json = async (res) => {
  if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
  return res.json();
};

for (let i = 0; ; i++) {
  try {
    if ((await fetch(`${B}/healthz`)).ok) break;
  } catch {}
  if (i > 120) throw new Error("sealtrail did not start");
  await sleep(500);
}

const log = (m) => process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${m}\n`);
log(`sealtrail is up at ${B}; creating ${TENANTS} tenants`);
const tenants = [];
for (let i = 0; i < TENANTS; i++) {
  const ip = `2001:db8:${(100 + i).toString(16)}::1`;
  const signUp = await call(
    "/api/auth/sign-up/email",
    { method: "POST", body: JSON.stringify({ email: `soak${i}@example.com`, password: "correct horse battery", name: `Soak ${i}` }) },
    ip,
  );
  const token = signUp.headers.get("set-auth-token");
  const auth = { authorization: `Bearer ${token}` };
  const org = await json(
    await call(
      "/api/auth/organization/create",
      { method: "POST", headers: auth, body: JSON.stringify({ name: `Soak ${i}`, slug: `soak-${i}` }) },
      ip,
    ),
  );
  const key = async (permissions) =>
    (
      await json(
        await call(`/v1/tenants/${org.id}/keys`, {
          method: "POST",
          headers: auth,
          body: JSON.stringify({ name: permissions.join("+"), permissions }),
        }),
      )
    ).key;
  const [append, verify] = [await key(["append"]), await key(["verify"])];
  // Creating the keys is logged: the events start after those entries.
  const base = (await json(await call(`/v1/tenants/${org.id}/stats`, { headers: { "x-api-key": verify } }))).size;
  tenants.push({ id: org.id, auth, append, verify, base, seqs: new Set(), duplicates: 0 });
}

log(`sending ${EVENTS.toLocaleString("en-US")} events`);
const perTenant = Math.floor(EVENTS / TENANTS);
const jobs = [];
for (let b = 0; b < perTenant / BATCH; b++) for (const [ti, t] of tenants.entries()) jobs.push({ t, ti, b });
const started = Date.now();
let next = 0;
let memPeak = 0;
const memTimer = setInterval(() => (memPeak = Math.max(memPeak, peakMemoryMiB())), 2000);
async function worker() {
  while (next < jobs.length && Date.now() - started < DEADLINE_MS) {
    const { t, ti, b } = jobs[next++];
    const events = Array.from({ length: BATCH }, (_, i) => ({
      action: "soak.event",
      actor: { id: `user-${(b * BATCH + i) % 1000}`, type: "user" },
      targets: [{ id: `doc-${b}`, type: "document" }],
      outcome: "success",
      metadata: { tenant: ti, batch: b, i },
      idempotency_key: `soak-${b}-${i}`,
    }));
    const { receipts } = await json(
      await call(`/v1/tenants/${t.id}/events`, { method: "POST", headers: { "x-api-key": t.append }, body: JSON.stringify({ events }) }),
    );
    for (const r of receipts) {
      if (t.seqs.has(r.seq)) t.duplicates++;
      t.seqs.add(r.seq);
    }
  }
}
await Promise.all(Array.from({ length: CONCURRENCY }, worker));
const ingestMs = Date.now() - started;
log(`sent in ${(ingestMs / 1000).toFixed(1)} s; sealing and verifying every tenant`);
const sent = jobs.length * BATCH;

let lost = 0;
let duplicated = 0;
let verified = 0;
const verifyStarted = Date.now();
for (const t of tenants) {
  const stats = await json(await call(`/v1/tenants/${t.id}/stats`, { headers: { "x-api-key": t.verify } }));
  lost += perTenant - t.seqs.size;
  duplicated += t.duplicates + Math.max(0, stats.size - t.base - perTenant);
  await json(await call(`/v1/tenants/${t.id}/seal`, { method: "POST", headers: t.auth }));
  let job = await json(await call(`/v1/tenants/${t.id}/verify`, { method: "POST", headers: { "x-api-key": t.verify } }));
  while (job.status !== "done") {
    if (Date.now() - started > DEADLINE_MS) throw new Error("verification did not finish in time");
    log(`verifying ${t.id}: ${job.progress.phase}, ${job.progress.checked} entries`);
    await sleep(1000);
    job = await json(await call(`/v1/tenants/${t.id}/verify/${job.job_id}`, { headers: { "x-api-key": t.verify } }));
  }
  if (job.report.ok) verified++;
  else console.error(`tenant ${t.id}: ${JSON.stringify(job.report.failures[0])}`);
}
const verifyMs = Date.now() - verifyStarted;
clearInterval(memTimer);
memPeak = Math.max(memPeak, peakMemoryMiB());

const line = (k, v) => console.log(`${k.padEnd(34)} ${v}`);
line("events sent (HTTP, batches of 100)", sent.toLocaleString("en-US"));
line("tenants", TENANTS);
line("ingest time", `${(ingestMs / 1000).toFixed(1)} s (${Math.round((sent * 1000) / ingestMs).toLocaleString("en-US")} events/s)`);
line("lost", lost);
line("duplicated", duplicated);
line("tenants verified ok", `${verified} of ${TENANTS}`);
line("seal + verification time", `${(verifyMs / 1000).toFixed(1)} s`);
line("peak memory (workerd, VmHWM sum)", `${memPeak} MiB`);
stop();
process.exitCode = lost === 0 && duplicated === 0 && verified === TENANTS && sent === EVENTS ? 0 : 1;
