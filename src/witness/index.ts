/**
 * Sealtrail's witness: a c2sp.org/tlog-witness witness as its own Worker (wrangler.witness.toml),
 * for any C2SP log it is configured to trust (config.ts). Routes:
 *
 *   POST /add-checkpoint            tlog-witness "add-checkpoint" (the submission prefix is the root)
 *   GET  /<origin hash>/checkpoint  tlog-witness "Monitor Retrieval Mechanism" (the monitoring prefix too)
 *   GET  /<origin hash>/refused     validly signed submissions it refused as inconsistent (JSON; evidence)
 *   GET  /                          its name, vkey and the origins it witnesses (JSON)
 *
 * The origin hash is the lowercase hex SHA-256 of the log's origin. Each origin's state lives in
 * its WitnessLog Durable Object (witness-log.ts), idFromName(origin).
 */
import { checkRequest } from "./add-checkpoint";
import { readBody } from "./body";
import { configOf, type WitnessConfig, type WitnessVars } from "./config";
import { toResponse, type WitnessError } from "./errors";
import type { WitnessLog } from "./witness-log";

// The main module exports only the handler and the Durable Object class (workerd refuses other values).
const TEXT = "text/plain; charset=utf-8";
const fail = (e: WitnessError) => toResponse(e);

export { WitnessLog } from "./witness-log";

export interface WitnessEnv extends WitnessVars {
  WITNESS_LOG: DurableObjectNamespace<WitnessLog>;
}

const logOf = (env: WitnessEnv, origin: string) => env.WITNESS_LOG.get(env.WITNESS_LOG.idFromName(origin));

async function addCheckpoint(request: Request, env: WitnessEnv, config: WitnessConfig): Promise<Response> {
  const body = await readBody(request);
  if (typeof body !== "string") return fail(body);
  const sub = checkRequest(body, config.logs);
  if (!sub.ok) return fail(sub.error);
  const outcome = await logOf(env, sub.value.origin).addCheckpoint(sub.value);
  if (!outcome.ok) return fail(outcome.error);
  return new Response(outcome.cosignatures, { status: 200, headers: { "content-type": TEXT, "cache-control": "no-store" } });
}

async function monitoring(env: WitnessEnv, config: WitnessConfig, hash: string, what: string): Promise<Response> {
  const log = config.byOriginHash.get(hash);
  if (!log) return fail({ reason: "not_found" });
  const stub = logOf(env, log.origin);
  if (what === "checkpoint") {
    const latest = await stub.latest(log.origin);
    // "If the witness has never cosigned a checkpoint for that log, it MUST respond with a 404."
    if (!latest) return fail({ reason: "not_found" });
    return new Response(latest.note, { headers: { "content-type": TEXT, "cache-control": "no-store" } });
  }
  return Response.json(await stub.refused(log.origin), { headers: { "cache-control": "no-store" } });
}

export default {
  async fetch(request: Request, env: WitnessEnv): Promise<Response> {
    const config = configOf(env);
    if (!config.ok) return fail({ reason: "misconfigured", detail: config.error });
    const { pathname } = new URL(request.url);
    if (pathname === "/add-checkpoint") {
      if (request.method !== "POST") return fail({ reason: "method_not_allowed", allow: "POST" });
      return addCheckpoint(request, env, config.value);
    }
    const read = /^\/([0-9a-f]{64})\/(checkpoint|refused)$/.exec(pathname);
    if (read || pathname === "/") {
      if (request.method !== "GET" && request.method !== "HEAD") return fail({ reason: "method_not_allowed", allow: "GET, HEAD" });
      if (read) return monitoring(env, config.value, read[1]!, read[2]!);
      const { key } = config.value.cosigner;
      const logs = [...config.value.logs.values()].map((l) => ({ origin: l.origin, origin_hash: l.originHash, keys: l.vkeys }));
      return Response.json({ name: key.name, vkey: key.vkey, submission: "/add-checkpoint", logs });
    }
    return fail({ reason: "not_found" });
  },
} satisfies ExportedHandler<WitnessEnv>;
