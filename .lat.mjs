import { readFileSync } from "node:fs";
import { build, startServer, setupTenants, closedLoop, sampleEvent, workerdPids } from "./bench/harness.mjs";
build();
const s = await startServer({ SEALTRAIL_BENCH_BASELINE: "1" });
const [t] = await setupTenants(s.base, 1, s.origin);
const single = (i) => ({ method: "POST", path: `/v1/tenants/${t.tenant}/events`, headers: { "content-type": "application/json", "x-api-key": t.appendKey }, body: JSON.stringify(sampleEvent(i)), events: 1 });
const batch = (i) => ({ method: "POST", path: `/v1/tenants/${t.tenant}/events`, headers: { "content-type": "application/json", "x-api-key": t.appendKey }, body: JSON.stringify({ events: Array.from({ length: 100 }, (_, j) => sampleEvent(i * 100 + j)) }), events: 100 });
const noop = () => ({ method: "GET", path: "/__bench/noop", headers: {}, events: 1 });
const cpu = () => { let t = 0; for (const pid of workerdPids()) { const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" "); t += Number(f[11]) + Number(f[12]); } return t; };
const threads = () => workerdPids().map((p) => readFileSync(`/proc/${p}/status`, "utf8").match(/Threads:\s+(\d+)/)[1]);
const selfCpu = () => process.cpuUsage();
for (const [name, next, conns] of [["noop", noop, 64], ["single", single, 64], ["batch", batch, 8]]) {
  const c0 = cpu(); const n0 = selfCpu(); const t0 = performance.now();
  const r = await closedLoop({ base: s.base, connections: conns, durationMs: 3000, warmupMs: 0, next });
  const secs = (performance.now() - t0) / 1000;
  const n1 = process.cpuUsage(n0);
  console.log(name, r.events_per_s.toFixed(0), "events/s; workerd CPU", ((cpu() - c0) / 100 / secs * 100).toFixed(0) + "%", "node CPU", (((n1.user + n1.system) / 1e6) / secs * 100).toFixed(0) + "%", "threads", threads().join(","));
}
await s.stop();
