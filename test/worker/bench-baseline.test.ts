import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../src/worker/index";
import { BENCH_BASELINE_PATH } from "../../src/worker/bench-baseline";
import { api, BASE } from "./helpers";

describe("the bench-only baseline route", () => {
  it("does not exist without SEALTRAIL_BENCH_BASELINE (404, like any unknown path)", async () => {
    expect(env.SEALTRAIL_BENCH_BASELINE).toBeUndefined();
    const res = await api(BENCH_BASELINE_PATH);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: "not_found" } });
  });

  it("answers with a no-op Durable Object call only when the bench sets the variable", async () => {
    const res = await worker.fetch(new Request(`${BASE}${BENCH_BASELINE_PATH}`), { ...env, SEALTRAIL_BENCH_BASELINE: "1" }, createExecutionContext());
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, size: 0 });
  });
});
