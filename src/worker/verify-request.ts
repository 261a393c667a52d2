/** The body of POST /v1/tenants/:t/verify (also in the OpenAPI document). */
import { z } from "zod";

const Seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * `mode` defaults to `range` when `from` or `to` is given, else `full`. A bounded run is always a
 * range run (issue #13: `{"from":0,"to":1}` once passed as a full verification).
 */
export const StartBody = z
  .strictObject({
    mode: z.enum(["full", "incremental", "range"]).optional().describe("default: range when from or to is given, else full"),
    from: Seq.optional(),
    to: Seq.optional(),
  })
  .refine((b) => b.mode === undefined || b.mode === "range" || (b.from === undefined && b.to === undefined), {
    message: 'from and to bound a range run: send mode "range", or no mode',
  })
  .refine((b) => b.from === undefined || b.to === undefined || b.from < b.to, { message: "from must be below to" });
