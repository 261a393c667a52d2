/**
 * Issue #18.3, "document the cost per tenant": what one scheduled run reads, counted on the real
 * bindings (D1 queries and rows, R2 GETs and LISTs, KV GETs, calls to the TenantLog), for a full
 * run and for the incremental run that follows a day's new entries. The figures are printed (and
 * written into docs/design.md "Scheduled audits"); the test asserts only what must hold whatever
 * the machine: an incremental run reads the new entries and a bounded sample, not the whole log.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { initialAudit, type AuditState } from "../../src/core/audit";
import { INCREMENTAL_SAMPLE_SIZE, startRun, step, type Mode, type Run, type Sources } from "../../src/durable/verification";
import { api, bearer, bucketOf, dbOf, logOf } from "../worker/helpers";
import { appendN, sealedLog } from "./log-helpers";

interface Cost {
  d1Queries: number;
  d1Rows: number;
  r2Gets: number;
  r2Lists: number;
  kvGets: number;
  logCalls: number;
  ms: number;
}

/** `real` with every method call counted into `cost` by `count(name, result)`. */
function counted<T extends object>(real: T, count: (name: string, result: unknown) => void): T {
  return new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result = Reflect.apply(value as (...a: unknown[]) => unknown, target, args);
        if (result instanceof Promise) {
          return result.then((r) => {
            count(String(prop), r);
            return r;
          });
        }
        count(String(prop), result);
        return result;
      };
    },
  });
}

/** A D1 binding whose statements count their queries and the rows they return. */
function countedD1(real: D1Database, cost: Cost): D1Database {
  const rowsOf = (r: unknown) => {
    const results = (r as { results?: unknown[] } | null)?.results;
    return Array.isArray(results) ? results.length : r ? 1 : 0;
  };
  const statement = (s: D1PreparedStatement): D1PreparedStatement =>
    counted(s, (name, r) => {
      if (name === "bind") return;
      if (name === "all" || name === "first" || name === "raw" || name === "run") {
        cost.d1Queries += 1;
        cost.d1Rows += name === "raw" ? (r as unknown[]).length : rowsOf(r);
      }
    });
  return new Proxy(real, {
    get(target, prop) {
      if (prop === "prepare") {
        return (sql: string) => {
          const s = target.prepare(sql);
          return new Proxy(s, {
            get(t, p) {
              if (p === "bind") return (...a: unknown[]) => statement(t.bind(...a));
              const v = Reflect.get(t, p) as unknown;
              return typeof v === "function" ? statement(t)[p as keyof D1PreparedStatement] : v;
            },
          });
        };
      }
      if (prop === "batch") {
        return async (stmts: D1PreparedStatement[]) => {
          const r = await target.batch(stmts);
          cost.d1Queries += stmts.length;
          for (const x of r) cost.d1Rows += rowsOf(x);
          return r;
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function measure(tenant: string, mode: Mode, resumeFrom: AuditState | null): Promise<{ cost: Cost; run: Run }> {
  const cost: Cost = { d1Queries: 0, d1Rows: 0, r2Gets: 0, r2Lists: 0, kvGets: 0, logCalls: 0, ms: 0 };
  const src: Sources = {
    db: countedD1(await dbOf(tenant), cost),
    bucket: counted(await bucketOf(tenant), (name) => {
      if (name === "get") cost.r2Gets += 1;
      if (name === "list") cost.r2Lists += 1;
    }),
    kv: counted(env.KV, (name) => {
      if (name === "get") cost.kvGets += 1;
    }),
    log: counted(logOf(tenant), () => {
      cost.logCalls += 1;
    }),
    env,
  };
  const started = performance.now();
  let seed = 1;
  const run = await startRun(src, {
    jobId: crypto.randomUUID(),
    tenant,
    mode,
    resumeFrom,
    random: () => {
      seed = (seed * 16807) % 2147483647;
      return (seed - 1) / 2147483646;
    },
    nowMs: Date.now(),
  });
  while (run.phase !== "done") await step(src, run);
  cost.ms = Math.round(performance.now() - started);
  return { cost, run };
}

describe("the cost of a scheduled audit", () => {
  it("full run, then an incremental run after new entries: what each reads", async () => {
    const t = await sealedLog();
    await appendN(t.tenant, t.appendKey, 2_000);
    expect((await api(`/v1/tenants/${t.tenant}/seal`, { method: "POST", headers: bearer(t.owner) })).status).toBe(200);
    const full = await measure(t.tenant, "full", null);
    expect(full.run.state.failures).toEqual([]);
    // A day's new entries, sealed, and an unsealed tail.
    await appendN(t.tenant, t.appendKey, 1_000);
    expect((await api(`/v1/tenants/${t.tenant}/seal`, { method: "POST", headers: bearer(t.owner) })).status).toBe(200);
    await appendN(t.tenant, t.appendKey, 100);
    const incremental = await measure(t.tenant, "incremental", full.run.sealedState ?? initialAudit(t.tenant));
    expect(incremental.run.state.failures).toEqual([]);
    const size = incremental.run.to;

    console.log(
      [
        `audit cost (log of ${full.run.to} entries, then ${size} entries):`,
        `  full:        ${JSON.stringify(full.cost)}`,
        `  incremental: ${JSON.stringify(incremental.cost)}`,
      ].join("\n"),
    );
    // The full run reads every entry from D1; the incremental one the new ones and a sample.
    expect(full.cost.d1Rows).toBeGreaterThanOrEqual(full.run.to);
    expect(incremental.cost.d1Rows).toBeLessThan(size - full.run.to + INCREMENTAL_SAMPLE_SIZE + 200);
    expect(incremental.cost.r2Gets).toBeLessThan(full.cost.r2Gets);
  });
});
