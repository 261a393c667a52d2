/**
 * Fan-in for hot tenants (docs/design.md "The path of one event", "Fan-in"): a Batcher Durable
 * Object coalesces single-event appends from many Worker isolates and forwards them to the
 * tenant's TenantLog (the sequencer) as one `appendMany` call. The idea is Cloudflare azul's
 * batcher; the code is ours.
 *
 * A Batcher holds nothing durable: requests live in its memory only until the sequencer
 * answers them. Every caller's answer is the sequencer's answer for that caller's own request
 * (its receipt, its idempotency outcome under its own credential, its own refusal), sent only
 * after the sequencer's commit. If the Batcher is reset, or a forward fails, the waiting
 * callers get `log_unavailable` (503 with Retry-After) and retry; an Idempotency-Key makes the
 * retry safe whether or not the sequencer had committed the lost forward.
 */
import { DurableObject } from "cloudflare:workers";
import type { JsonObject } from "../core/entry";
import type { AppendItem, AppendResult } from "./log-types";
import { DEFAULT_PLACEMENT, tenantObject, type Placement } from "./placement";
import type { AppendRequest } from "./sequencer";
import type { TenantLog } from "./tenant-log";

/** Requests per forward: bounds one RPC's size (events are at most 32 KiB: ≤ 8 MiB, under the RPC limit). */
export const MAX_FORWARD_REQUESTS = 256;
/**
 * Forwards in flight at once, per Batcher. One, as in group commit: what arrives while a forward
 * is out goes in the next, so batches grow with the load and the sequencer gets fewer calls.
 * (Two, pipelined, measured the same locally with smaller batches: bench/run.mjs fan-in rows.)
 */
export const FORWARDS_IN_FLIGHT = 1;
/** Back-pressure: events waiting in one Batcher beyond this are refused with 503 + Retry-After. */
export const MAX_WAITING_EVENTS = 10_000;

/** Sends a batch of requests to the sequencer; resolves with one answer per request, in order. */
export type Forward = (tenant: string, requests: AppendRequest[]) => Promise<AppendResult[]>;

interface Waiting {
  req: AppendRequest;
  resolve: (r: AppendResult) => void;
}

/**
 * The queue of one Batcher: a request that arrives while fewer than FORWARDS_IN_FLIGHT forwards
 * are out is forwarded at once (no artificial delay); those that arrive meanwhile wait and go
 * together in the next forward, up to MAX_FORWARD_REQUESTS, as group commit groups them.
 */
export class BatchQueue {
  readonly #forward: Forward;
  readonly tenant: string;
  #waiting: Waiting[] = [];
  #waitingEvents = 0;
  #inFlight = 0;
  /** Forwards sent, and requests in them (stats for tests and the bench). */
  forwards = 0;
  forwarded = 0;

  constructor(tenant: string, forward: Forward) {
    this.tenant = tenant;
    this.#forward = forward;
  }

  submit(req: AppendRequest): Promise<AppendResult> {
    if (this.#waitingEvents + req.items.length > MAX_WAITING_EVENTS) {
      return Promise.resolve({ ok: false, error: { reason: "overloaded", retryAfterSeconds: 1 } });
    }
    const answer = new Promise<AppendResult>((resolve) => this.#waiting.push({ req, resolve }));
    this.#waitingEvents += req.items.length;
    this.#pump();
    return answer;
  }

  #pump(): void {
    while (this.#inFlight < FORWARDS_IN_FLIGHT && this.#waiting.length > 0) {
      const batch = this.#waiting.splice(0, MAX_FORWARD_REQUESTS);
      for (const w of batch) this.#waitingEvents -= w.req.items.length;
      this.#inFlight += 1;
      void this.#send(batch).finally(() => {
        this.#inFlight -= 1;
        this.#pump();
      });
    }
  }

  async #send(batch: Waiting[]): Promise<void> {
    this.forwards += 1;
    this.forwarded += batch.length;
    let answers: AppendResult[];
    try {
      answers = await this.#forward(
        this.tenant,
        batch.map((w) => w.req),
      );
      if (answers.length !== batch.length) throw new Error(`sequencer answered ${answers.length} of ${batch.length} requests`);
    } catch (e) {
      // Nothing here was acknowledged. The sequencer may or may not have committed the batch
      // (a lost reply): every caller gets 503 and retries, its Idempotency-Key finds the entry.
      console.error("Batcher forward failed", e);
      for (const w of batch) w.resolve({ ok: false, error: { reason: "log_unavailable" } });
      return;
    }
    for (const [i, w] of batch.entries()) w.resolve(answers[i]!);
  }
}

/**
 * The tenant's sequencer in its jurisdiction, as the Worker reaches it (src/worker/tenant-log.ts
 * `tenantLog`); the Worker has told it its placement before sending a request here (fan-in.ts).
 */
export const sequencerOf = (env: Env, tenant: string, placement: Placement): DurableObjectStub<TenantLog> =>
  tenantObject(env.TENANT_LOG, placement, tenant);

/**
 * The Batcher Durable Object: one of a tenant's k batchers (src/worker/fan-in.ts picks one per
 * request). It serves one tenant, named in every call; it never touches its storage.
 */
export class Batcher extends DurableObject<Env> {
  #queue: BatchQueue | undefined;

  /** Same contract as TenantLog.append, for one request: resolves with the sequencer's answer to it. */
  async append(
    tenant: string,
    items: AppendItem[],
    provenance: JsonObject,
    placement: Placement = DEFAULT_PLACEMENT,
  ): Promise<AppendResult> {
    if (this.#queue === undefined) {
      const log = sequencerOf(this.env, tenant, placement);
      this.#queue = new BatchQueue(tenant, (t, requests) => log.appendMany(t, requests));
    } else if (this.#queue.tenant !== tenant) {
      // The Worker names batchers after their tenant: a mismatch means a broken caller. Refused
      // (503), never forwarded to another tenant's log.
      console.error(`Batcher of ${this.#queue.tenant} asked to append for ${tenant}`);
      return { ok: false, error: { reason: "log_unavailable" } };
    }
    return this.#queue.submit({ items, provenance });
  }

  /** What this object has forwarded since it started (for tests and the bench): forwards and requests in them. */
  async stats(): Promise<{ tenant: string | null; forwards: number; forwarded: number }> {
    const q = this.#queue;
    return { tenant: q?.tenant ?? null, forwards: q?.forwards ?? 0, forwarded: q?.forwarded ?? 0 };
  }
}
