/**
 * LogAudit: runs a tenant's verifications as resumable jobs (one Durable Object per tenant,
 * idFromName(tenant id)), so a log of millions of entries is checked in steps within Workers
 * CPU limits. The alarm drives the steps; each step's position is stored before the next.
 * Finished reports go to D1 (INSERT only) and each run is appended to the tenant's log.
 * Scheduled audits (audit-schedule.ts): the same jobs, started by this object's alarm at the
 * tenant's slots; each full or incremental outcome is told to the TenantLog (its alerts).
 */
import { DurableObject } from "cloudflare:workers";
import type { AuditState } from "../core/audit";
import type { JsonObject } from "../core/entry";
import { AuditSchedule, DEFAULT_INTERVALS, scheduledRunEvent, type AuditIntervals } from "./audit-schedule";
import { StoredPlacement, tenantObject, tenantStores, type Placement } from "./placement";
import type { TenantLog } from "./tenant-log";
import type { PrunedRange } from "../core/audit";
import { reportOf, startRun, step, type Mode, type Report, type Run, type Sources } from "./verification";

/** How long one alarm (or the starting request) works before it stores its place and yields. */
export const STEP_BUDGET_MS = 3_000;

export interface JobView {
  job_id: string;
  status: "running" | "done";
  mode: Mode;
  /** The entries [from, to) the run covers (fixed when it starts). */
  range: { from: number; to: number };
  progress: { checked: number; next: number; to: number; phase: Run["phase"] };
  report: Report | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  run TEXT NOT NULL,
  requested_by TEXT NOT NULL,
  report TEXT,
  created_at INTEGER NOT NULL,
  budget_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS last_good (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  state TEXT NOT NULL,
  job_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS last_full (
  id INTEGER PRIMARY KEY CHECK (id = 0),
  job_id TEXT NOT NULL,
  report TEXT NOT NULL
);
`;

/** The tenant's verification status: its last finished full run (GET /stats). */
export interface FullVerificationStatus {
  job_id: string;
  ok: boolean;
  failures: number;
  finished_at: string;
  range: { from: number; to: number };
  /** Bodies deleted by retention, reported by the run (not failures). */
  pruned: PrunedRange | null;
}

export class LogAudit extends DurableObject<Env> {
  /** Where the tenant's D1 rows, R2 seals and TenantLog are (placement.ts; the Worker's `place`). */
  readonly #placement: StoredPlacement;
  readonly #schedule: AuditSchedule;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(SCHEMA);
    this.#placement = new StoredPlacement(ctx.storage);
    this.#schedule = new AuditSchedule(ctx.storage.sql);
  }

  /**
   * Scheduled audits (audit-schedule.ts): sets the intervals (the TenantLog's settings; null
   * keeps those stored, else the defaults: the cron's kick), starts a run that is due, and arms
   * the alarm for the next slot. Returns when the next scheduled run is due.
   */
  async schedule(tenant: string, placement: Placement, intervals: AuditIntervals | null): Promise<{ next_at: number | null }> {
    this.#placement.set(placement, this.ctx.storage.sql.exec("SELECT 1 FROM jobs LIMIT 1").toArray().length > 0);
    const stored = this.#schedule.get();
    const want = intervals ?? (stored ? { incrementalMs: stored.incrementalMs, fullMs: stored.fullMs } : DEFAULT_INTERVALS);
    if (!stored || stored.tenant !== tenant || stored.incrementalMs !== want.incrementalMs || stored.fullMs !== want.fullMs) {
      this.#schedule.set(tenant, want, Date.now());
    }
    await this.#runScheduled();
    return { next_at: this.#schedule.nextAt() };
  }

  /** Starts the scheduled run that is due, unless a job runs; then arms the alarm for what comes next. */
  async #runScheduled(): Promise<void> {
    const row = this.#schedule.get();
    if (!row) return;
    if (!this.#runningJob()) {
      const now = Date.now();
      const mode = this.#schedule.due(now);
      if (mode) {
        // Durable first: the next slots. A crash after this loses this run, and
        // `verification_overdue` says so if none follows in time.
        this.#schedule.started(mode, now);
        const seed = crypto.getRandomValues(new Uint32Array(1))[0]!;
        await this.start(row.tenant, { jobId: crypto.randomUUID(), mode, seed }, scheduledRunEvent(row.tenant));
      }
    }
    await this.#armSchedule();
  }

  /** The alarm at the next scheduled run, unless it is set earlier (a running job's next step). */
  async #armSchedule(): Promise<void> {
    const next = this.#schedule.nextAt();
    if (next === null || this.#runningJob()) return;
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > next) await this.ctx.storage.setAlarm(next);
  }

  /** Records the tenant's placement (the Worker calls it before any other call, once per isolate). */
  async place(_tenant: string, placement: Placement): Promise<void> {
    this.#placement.set(placement, this.ctx.storage.sql.exec("SELECT 1 FROM jobs LIMIT 1").toArray().length > 0);
  }

  /** The tenant's TenantLog, in its jurisdiction. */
  #tenantLog(tenant: string): DurableObjectStub<TenantLog> {
    return tenantObject(this.env.TENANT_LOG, this.#placement.get(), tenant);
  }

  /**
   * Starts a verification, or returns the one already running. `jobId` and `seed` come from
   * the caller (randomness at the edge); the first steps run before this returns.
   */
  async start(
    tenant: string,
    args: { jobId: string; mode: Mode; from?: number; to?: number; seed: number; budgetMs?: number },
    requestedBy: { event: JsonObject; provenance: JsonObject },
  ): Promise<JobView> {
    const running = this.#runningJob();
    if (running) {
      // A running job always has an alarm to move it on; re-arm one if it was lost.
      if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
      return this.#view(running.id);
    }
    const lastGood = this.ctx.storage.sql.exec("SELECT state FROM last_good WHERE id = 0").toArray()[0];
    let seed = args.seed >>> 0;
    const random = () => {
      // mulberry32: a seeded generator, so a run's sample is fixed once it starts.
      seed = (seed + 0x6d2b79f5) >>> 0;
      let t = seed;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const run = await startRun(this.#sources(tenant), {
      jobId: args.jobId,
      tenant,
      mode: args.mode,
      ...(args.from !== undefined ? { from: args.from } : {}),
      ...(args.to !== undefined ? { to: args.to } : {}),
      resumeFrom: lastGood ? (JSON.parse(String(lastGood.state)) as AuditState) : null,
      random,
      nowMs: Date.now(),
    });
    this.ctx.storage.sql.exec(
      "INSERT INTO jobs (id, run, requested_by, report, created_at, budget_ms) VALUES (?, ?, ?, NULL, ?, ?)",
      run.jobId,
      JSON.stringify(run),
      JSON.stringify(requestedBy),
      Date.now(),
      args.budgetMs ?? STEP_BUDGET_MS,
    );
    await this.#work(run.jobId);
    return this.#view(run.jobId);
  }

  /**
   * The last finished full run, or null. Range runs never count, whatever they found; runs
   * finished before this table existed (issue #13) do not either: their "full" may have been
   * bounded by from/to.
   */
  async lastFullVerification(): Promise<FullVerificationStatus | null> {
    const row = this.ctx.storage.sql.exec("SELECT report FROM last_full WHERE id = 0").toArray()[0];
    if (!row) return null;
    const r = JSON.parse(String(row.report)) as Report;
    return {
      job_id: r.job_id,
      ok: r.ok,
      failures: r.failures.length,
      finished_at: r.finished_at,
      range: r.range,
      pruned: r.pruned ?? null,
    };
  }

  async job(jobId: string): Promise<JobView | null> {
    const row = this.ctx.storage.sql.exec("SELECT id FROM jobs WHERE id = ?", jobId).toArray()[0];
    return row ? this.#view(jobId) : null;
  }

  override async alarm(): Promise<void> {
    const running = this.#runningJob();
    if (running) await this.#work(running.id);
    // No job left running: a scheduled one due now starts, and the alarm waits for the next.
    await this.#runScheduled();
  }

  #runningJob(): { id: string } | undefined {
    const row = this.ctx.storage.sql.exec("SELECT id FROM jobs WHERE report IS NULL ORDER BY created_at LIMIT 1").toArray()[0];
    return row ? { id: String(row.id) } : undefined;
  }

  #load(jobId: string): { run: Run; requestedBy: { event: JsonObject; provenance: JsonObject }; report: Report | null; budgetMs: number } {
    const row = this.ctx.storage.sql.exec("SELECT run, requested_by, report, budget_ms FROM jobs WHERE id = ?", jobId).one();
    return {
      budgetMs: Number(row.budget_ms),
      run: JSON.parse(String(row.run)) as Run,
      requestedBy: JSON.parse(String(row.requested_by)) as { event: JsonObject; provenance: JsonObject },
      report: row.report === null ? null : (JSON.parse(String(row.report)) as Report),
    };
  }

  #view(jobId: string): JobView {
    const { run, report } = this.#load(jobId);
    return {
      job_id: jobId,
      status: report ? "done" : "running",
      mode: run.mode,
      range: { from: run.from, to: run.to },
      progress: { checked: run.state.checked.entries, next: run.state.next, to: run.to, phase: run.phase },
      report,
    };
  }

  #sources(tenant: string): Sources {
    return { ...tenantStores(this.env, this.#placement.get()), kv: this.env.KV, log: this.#tenantLog(tenant), env: this.env };
  }

  /** Runs steps (at least one) until the budget is spent or the job is done; stores the place after each. */
  async #work(jobId: string): Promise<void> {
    const { run, requestedBy, budgetMs } = this.#load(jobId);
    const src = this.#sources(run.tenant);
    const started = Date.now();
    try {
      do {
        await step(src, run);
        // Durable now: the run's position. A crash or eviction resumes from this step.
        this.ctx.storage.sql.exec("UPDATE jobs SET run = ? WHERE id = ?", JSON.stringify(run), jobId);
      } while (run.phase !== "done" && Date.now() - started < budgetMs);
      if (run.phase !== "done") {
        await this.ctx.storage.setAlarm(Date.now());
        return;
      }
      await this.#finish(run, requestedBy);
    } catch (e) {
      // A store failed mid-step: the step is repeated from the stored position a little later.
      console.error(`verification ${jobId} step failed; retrying`, e);
      await this.ctx.storage.setAlarm(Date.now() + 5_000);
    }
  }

  /**
   * Stores the report (D1, INSERT only), appends the run to the tenant's log, then marks the
   * job done here. A crash between these steps repeats them: the D1 insert is skipped when the
   * job already has a report there (a second INSERT of it would be refused by the append-only
   * triggers, as its finish time differs); the log entry carries the job id as its
   * idempotency key.
   */
  async #finish(run: Run, requestedBy: { event: JsonObject; provenance: JsonObject }): Promise<void> {
    const report = reportOf(run, Date.now());
    const { db } = tenantStores(this.env, this.#placement.get());
    await db
      .prepare(
        `INSERT INTO verification_reports (tenant_id, job_id, mode, ok, failures, report, created_at, from_seq, to_seq)
       SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
       WHERE NOT EXISTS (SELECT 1 FROM verification_reports WHERE tenant_id = ?1 AND job_id = ?2)`,
      )
      .bind(
        run.tenant,
        run.jobId,
        run.mode,
        report.ok ? 1 : 0,
        report.failures.length,
        JSON.stringify(report),
        Date.now(),
        run.from,
        run.to,
      )
      .run();
    const first = report.failures[0];
    const event: JsonObject = {
      ...requestedBy.event,
      outcome: report.ok ? "success" : "failure",
      metadata: {
        job_id: run.jobId,
        mode: run.mode,
        from: run.from,
        to: run.to,
        ok: report.ok,
        entries: report.checked.entries,
        seals: report.checked.seals,
        failures: report.failures.length,
        ...(first ? { first_failure: first as unknown as JsonObject } : {}),
      },
    };
    const log = this.#tenantLog(run.tenant);
    // A TenantLog learns its placement from its first call; this may be the first (idempotent).
    await log.place(run.tenant, this.#placement.get());
    const logged = await log.append(run.tenant, [{ event, idempotencyKey: `verify:${run.jobId}` }], requestedBy.provenance);
    // A log that refuses writes (split view) is exactly when an auditor needs the report: it is
    // final without its log entry. Any other failure is retried: the entry will be written.
    if (!logged.ok && logged.error.reason !== "idempotency_conflict" && logged.error.reason !== "split_view") {
      await this.ctx.storage.setAlarm(Date.now() + 5_000);
      return;
    }
    // The tenant's alerts (verification_failed / _overdue) learn the outcome of every run but a
    // range run. If this fails (throws), the finish is repeated from the alarm (#work's catch):
    // the steps above change nothing twice, and telling the log twice is harmless.
    if (run.mode !== "range") {
      await log.verificationFinished(run.tenant, {
        job_id: run.jobId,
        mode: run.mode,
        ok: report.ok,
        failures: report.failures.length,
        finished_at: report.finished_at,
        scheduled: requestedBy.provenance.principal_id === "schedule",
      });
    }
    // One transaction: the job is done, and (a full run) the tenant's status is this report.
    // Durable after it: a crash before it repeats the finish, which changes nothing twice.
    this.ctx.storage.transactionSync(() => {
      this.ctx.storage.sql.exec("UPDATE jobs SET report = ? WHERE id = ?", JSON.stringify(report), run.jobId);
      if (report.ok && run.sealedState && run.mode !== "range") {
        // Where the next incremental run resumes: after the seals this run proved good. Never
        // after a range run, which may have skipped the seals before its range.
        this.ctx.storage.sql.exec(
          "INSERT INTO last_good (id, state, job_id) VALUES (0, ?, ?) ON CONFLICT (id) DO UPDATE SET state = excluded.state, job_id = excluded.job_id",
          JSON.stringify(run.sealedState),
          run.jobId,
        );
      }
      if (run.mode === "full") {
        // The tenant's status, passed or failed (GET /stats, the console's overview).
        this.ctx.storage.sql.exec(
          "INSERT INTO last_full (id, job_id, report) VALUES (0, ?, ?) ON CONFLICT (id) DO UPDATE SET job_id = excluded.job_id, report = excluded.report",
          run.jobId,
          JSON.stringify(report),
        );
      }
    });
  }
}
