/**
 * LogStreams: one Durable Object per tenant (idFromName(tenant) in its jurisdiction's namespace,
 * placement.ts `tenantObject`) that pushes the tenant's log to the destinations it configured
 * (docs/design.md "Streams"). It is not the TenantLog: appends never wait for it, and a slow or
 * failing destination never holds the log back. It reads the entries from the tenant's D1 shard
 * (the mirror) and keeps, in its own storage, each stream's configuration, secrets and cursor
 * (stream-store.ts), so nothing is lost when it is evicted or restarted: its alarm drives all work
 * and is re-armed at start while any stream is active.
 * When a stream pauses it appends `sealtrail.stream.paused` to the tenant's log and reports its
 * paused streams to the TenantLog (stream-alerts.ts: the `stream_paused` alert source).
 */
import { DurableObject } from "cloudflare:workers";
import type { JsonObject } from "../core/entry";
import type { AlertCondition } from "./alert-types";
import { Alarm } from "./alarm";
import { isLocalDev } from "./outbound";
import { lazyBinding, StoredPlacement, tenantObject, tenantStores, type Placement } from "./placement";
import { configView, type LogHead, type StreamConfig, type StreamSecrets, type StreamStatus } from "./stream-config";
import { STREAM_IDLE_AFTER_MS, STREAM_IDLE_POLL_MS, STREAM_POLL_MS, STREAM_RETRY_BASE_MS, StreamDelivery } from "./stream-delivery";
import { StreamStore, type StreamRow } from "./stream-store";

/** How often, at most, the slowest stream's moving cursor is reported to the TenantLog (KPI samples). */
export const STREAM_CURSOR_REPORT_MS = 15_000;

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** The retry base (ms): STREAM_RETRY_BASE_MS, or `SEALTRAIL_STREAM_RETRY_BASE_MS` (tests and local dev shorten it). */
export function streamRetryBaseMs(env: object): number {
  const raw = Number((env as { SEALTRAIL_STREAM_RETRY_BASE_MS?: unknown }).SEALTRAIL_STREAM_RETRY_BASE_MS);
  return Number.isFinite(raw) && raw > 0 ? raw : STREAM_RETRY_BASE_MS;
}

export class LogStreams extends DurableObject<Env> {
  readonly #store: StreamStore;
  readonly #alarm: Alarm;
  readonly #placement: StoredPlacement;
  #lastActivity = 0;
  /** Paused stream ids last reported to the TenantLog (null: not since start). */
  #reported: string | null = null;
  #reportedCursor: number | null = null;
  #cursorReportedAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new StreamStore(ctx.storage.sql);
    this.#alarm = new Alarm(ctx.storage);
    this.#placement = new StoredPlacement(ctx.storage);
    void ctx.blockConcurrencyWhile(async () => {
      await this.#alarm.load();
      // After a restart: any active stream (not paused) runs soon, from its stored cursor.
      if (this.#store.all().some((s) => s.pausedAt === null)) this.#alarm.arm(Date.now());
    });
  }

  #tenant(): string | undefined {
    return this.ctx.storage.kv.get<string>("tenant");
  }

  /** Records the tenant and its placement (every call from the Worker carries them). */
  #claim(tenant: string, placement: Placement): void {
    const known = this.#tenant();
    if (known !== undefined && known !== tenant) throw new Error(`LogStreams of ${known} asked about ${tenant}`);
    if (known === undefined) this.ctx.storage.kv.put("tenant", tenant);
    this.#placement.set(placement, false);
  }

  #db(): D1Database {
    return lazyBinding(() => tenantStores(this.env, this.#placement.get()).db);
  }

  async #lagOf(row: StreamRow, head: LogHead, now: number): Promise<{ entries: number; seconds: number }> {
    const entries = Math.max(0, head.size - row.cursor);
    if (entries === 0) return { entries, seconds: 0 };
    if (row.cursor >= head.mirroredTo) return { entries, seconds: Math.floor(head.mirrorLagMs / 1000) };
    const first = await this.#db()
      .prepare("SELECT received_at FROM audit_events WHERE tenant_id = ? AND seq = ?")
      .bind(this.#tenant(), row.cursor)
      .first<{ received_at: number }>();
    return { entries, seconds: first ? Math.max(0, Math.floor((now - first.received_at) / 1000)) : 0 };
  }

  async #status(row: StreamRow, head: LogHead | null): Promise<StreamStatus> {
    const now = Date.now();
    const lag = head ? await this.#lagOf(row, head, now) : { entries: 0, seconds: 0 };
    return {
      id: row.id,
      ...(configView(row.config) as { name: string; destination: Record<string, string | boolean>; format: string; actions: string[] }),
      timeout_seconds: row.config.timeoutMs / 1000,
      created_at: new Date(row.createdAt).toISOString(),
      cursor: row.cursor,
      delivered: row.delivered,
      last_delivered_at: iso(row.deliveredAt),
      lag_entries: lag.entries,
      lag_seconds: lag.seconds,
      paused: row.pausedAt !== null,
      paused_at: iso(row.pausedAt),
      failures: row.failures,
      last_error: row.lastError,
      last_error_at: iso(row.lastErrorAt),
      next_attempt_at: row.pausedAt === null && row.nextAt > now ? iso(row.nextAt) : null,
    };
  }

  /** A new stream, delivering from `cursor`. */
  async create(
    tenant: string,
    placement: Placement,
    id: string,
    config: StreamConfig,
    secrets: StreamSecrets,
    cursor: number,
  ): Promise<StreamStatus> {
    this.#claim(tenant, placement);
    // Durable now: the stream, its secrets and its cursor. Its alarm runs it from here on.
    this.#store.insert(id, config, secrets, cursor, Date.now());
    this.#alarm.arm(Date.now());
    await this.#report(true);
    return this.#status(this.#store.get(id)!, null);
  }

  async list(tenant: string, placement: Placement, head: LogHead | null): Promise<StreamStatus[]> {
    this.#claim(tenant, placement);
    return Promise.all(this.#store.all().map((r) => this.#status(r, head)));
  }

  async get(tenant: string, placement: Placement, id: string, head: LogHead | null): Promise<StreamStatus | null> {
    this.#claim(tenant, placement);
    const row = this.#store.get(id);
    return row ? this.#status(row, head) : null;
  }

  /** The stream's configuration and secrets (the route merges a change into them); null if there is none. */
  async config(tenant: string, placement: Placement, id: string): Promise<{ config: StreamConfig; secretType: string } | null> {
    this.#claim(tenant, placement);
    const row = this.#store.get(id);
    return row ? { config: row.config, secretType: row.secrets.type } : null;
  }

  /** A new configuration; `secrets` undefined keeps the current ones. The batch in flight is formed anew. */
  async update(
    tenant: string,
    placement: Placement,
    id: string,
    config: StreamConfig,
    secrets: StreamSecrets | undefined,
  ): Promise<StreamStatus | null> {
    this.#claim(tenant, placement);
    const row = this.#store.get(id);
    if (!row) return null;
    this.#store.reconfigure(id, config, secrets ?? row.secrets);
    this.#alarm.arm(Date.now());
    return this.#status(this.#store.get(id)!, null);
  }

  async remove(tenant: string, placement: Placement, id: string): Promise<boolean> {
    this.#claim(tenant, placement);
    if (!this.#store.get(id)) return false;
    this.#store.remove(id);
    await this.#report(true);
    return true;
  }

  /** Pauses (`paused` true) or resumes a stream; resuming continues from the cursor with failures reset. */
  async setPaused(tenant: string, placement: Placement, id: string, paused: boolean): Promise<StreamStatus | null> {
    this.#claim(tenant, placement);
    if (!this.#store.get(id)) return null;
    if (paused) this.#store.pause(id, Date.now());
    else {
      this.#store.resume(id);
      this.#alarm.arm(Date.now());
    }
    await this.#report(true);
    return this.#status(this.#store.get(id)!, null);
  }

  /** Tells the TenantLog which streams are paused (its `stream_paused` alert source), when that changed. */
  async #report(force = false): Promise<void> {
    const tenant = this.#tenant();
    if (tenant === undefined) return;
    const all = this.#store.all();
    const paused = all.filter((s) => s.pausedAt !== null);
    const key = `${all.length}:${paused.map((s) => `${s.id}@${s.pausedAt}`).join(",")}`;
    // The slowest active stream's cursor, for the KPI view's stream lag over time (sources.ts
    // samples it once a minute): sent along when it moved, at most every STREAM_CURSOR_REPORT_MS.
    const active = all.filter((s) => s.pausedAt === null);
    const minCursor = active.length === 0 ? null : Math.min(...active.map((s) => s.cursor));
    const cursorDue = minCursor !== this.#reportedCursor && Date.now() - this.#cursorReportedAt >= STREAM_CURSOR_REPORT_MS;
    if (!force && key === this.#reported && !cursorDue) return;
    const conditions: AlertCondition[] = paused.map((s) => ({
      kind: "stream_paused",
      key: s.id,
      since: s.pausedAt!,
      detail: { stream: s.id, name: s.config.name, type: s.config.destination.type, failures: s.failures, last_error: s.lastError ?? "" },
    }));
    try {
      await tenantObject(this.env.TENANT_LOG, this.#placement.get(), tenant).reportStreams(tenant, {
        streams: all.length,
        paused: conditions,
        min_cursor: minCursor,
      });
      this.#reported = key;
      this.#reportedCursor = minCursor;
      this.#cursorReportedAt = Date.now();
    } catch (e) {
      // Reported again at the next alarm (#reported unchanged).
      console.error("streams: could not report paused streams", e);
    }
  }

  /** `sealtrail.stream.paused` for a stream the delivery paused, appended to the tenant's log. */
  async #logPause(tenant: string, row: StreamRow, error: string): Promise<void> {
    const event: JsonObject = {
      action: "sealtrail.stream.paused",
      actor: { id: "sealtrail", type: "service" },
      targets: [{ id: row.id, type: "stream" }],
      outcome: "failure",
      metadata: { stream: configView(row.config), cursor: row.cursor, failures: row.failures, last_error: error.slice(0, 500) },
    };
    try {
      const log = tenantObject(this.env.TENANT_LOG, this.#placement.get(), tenant);
      const r = await log.append(tenant, [{ event }], { principal_type: "service", principal_id: "log-streams" });
      if (!r.ok) console.error("streams: the pause could not be logged", r.error);
    } catch (e) {
      console.error("streams: the pause could not be logged", e);
    }
  }

  /** Runs every active stream that is due, then arms the alarm for the earliest next run. */
  override async alarm(): Promise<void> {
    this.#alarm.fired();
    const tenant = this.#tenant();
    if (tenant === undefined) return;
    const now = () => Date.now();
    const pauses: Promise<void>[] = [];
    const delivery = new StreamDelivery({
      store: this.#store,
      db: () => this.#db(),
      tenant,
      origin: `${this.env.SEALTRAIL_ORIGIN}/${tenant}`,
      now,
      random: Math.random,
      localDev: isLocalDev(this.env),
      retryBaseMs: streamRetryBaseMs(this.env),
      pollMs: () => (now() - this.#lastActivity > STREAM_IDLE_AFTER_MS ? STREAM_IDLE_POLL_MS : STREAM_POLL_MS),
      paused: (row, error) => pauses.push(this.#logPause(tenant, row, error)),
    });
    const active = this.#store.all().filter((s) => s.pausedAt === null);
    const results = await Promise.all(
      active.map((s) =>
        delivery.pass(s.id).catch((e: unknown) => {
          console.error(`stream ${s.id}: pass failed`, e);
          return { nextAt: now() + STREAM_POLL_MS, moved: false };
        }),
      ),
    );
    if (results.some((r) => r.moved)) this.#lastActivity = now();
    await Promise.all(pauses);
    await this.#report(pauses.length > 0);
    const next = results.map((r) => r.nextAt).filter((t): t is number => t !== null);
    if (next.length > 0) this.#alarm.arm(Math.max(now(), Math.min(...next)));
    else if (this.#reported === null) this.#alarm.arm(now() + STREAM_IDLE_POLL_MS);
  }
}
