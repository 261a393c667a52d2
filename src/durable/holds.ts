/**
 * The tenant's legal holds, in its Durable Object's SQLite (docs/storage-schema.md "holds"),
 * next to the retention sweep that must obey them. Synchronous, like log-store.ts, so that a
 * hold is created or released inside the commit's transaction that appends the entry recording
 * it (tenant-log.ts `createHold` / `releaseHold`: `sealtrail.hold.created` / `.released`): a
 * hold never exists, or ends, without its entry. What a hold covers is src/core/holds.ts.
 *
 * A row is inserted once and changed once, when it is released (released_* set, never cleared);
 * holds are never deleted: the list shows released ones with who released them and why.
 */
import { checkHoldReason, checkHoldScope, HOLD_LIMITS, type Hold, type HoldProblem, type HoldScope } from "../core/holds";
import { formatTimestamp } from "../core/entry";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS holds (
  id TEXT PRIMARY KEY,
  reason TEXT NOT NULL,
  scope TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  created_by TEXT NOT NULL,
  released_at INTEGER,
  released_by TEXT,
  release_reason TEXT
) WITHOUT ROWID;
`;

/** Why the store refuses a creation or a release (variants of the Worker's AppError). */
export type HoldError =
  | { reason: "invalid_hold"; path: string; message: string }
  | { reason: "too_many_holds"; limit: number }
  | { reason: "hold_not_found"; id: string }
  | { reason: "hold_already_released"; id: string; releasedAt: string; releasedBy: string };

export type HoldResult = { ok: true; hold: Hold } | { ok: false; error: HoldError };

export interface NewHold {
  reason: string;
  scope: HoldScope;
  /** Who creates it: the principal's id (a user id or an API key id). */
  by: string;
  /** The hold's id; a fresh `hold_<uuid>` unless given (tests). */
  id?: string;
}

export interface HoldRelease {
  reason: string;
  /** Who releases it: the principal's id. */
  by: string;
}

const invalid = (p: HoldProblem): HoldResult => ({ ok: false, error: { reason: "invalid_hold", ...p } });

export class HoldStore {
  readonly #sql: SqlStorage;
  readonly #now: () => number;

  constructor(sql: SqlStorage, now: () => number) {
    this.#sql = sql;
    this.#now = now;
    this.#sql.exec(SCHEMA);
  }

  /** Holds not released, oldest first: what the sweep, retention changes and erasure obey. */
  active(): Hold[] {
    return this.#select("WHERE released_at IS NULL");
  }

  /** Every hold, active and released, oldest first. */
  all(): Hold[] {
    return this.#select("");
  }

  get(id: string): Hold | undefined {
    return this.#select("WHERE id = ?", id)[0];
  }

  /**
   * Stores a new active hold, created now by `by`. Checks the scope and reason again (the route
   * already did): a refused hold stores nothing. Call it inside the transaction that appends
   * its entry.
   */
  create(input: NewHold): HoldResult {
    const scope = checkHoldScope(input.scope);
    if (!scope.ok) return invalid(scope.problem);
    const reason = checkHoldReason(input.reason);
    if (!reason.ok) return invalid(reason.problem);
    const by = checkHoldReason(input.by, "created_by");
    if (!by.ok) return invalid(by.problem);
    const count = Number(this.#sql.exec("SELECT count(*) AS n FROM holds WHERE released_at IS NULL").one().n);
    if (count >= HOLD_LIMITS.active) return { ok: false, error: { reason: "too_many_holds", limit: HOLD_LIMITS.active } };
    const id = input.id ?? `hold_${crypto.randomUUID()}`;
    this.#sql.exec(
      "INSERT INTO holds (id, reason, scope, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
      id,
      reason.reason,
      JSON.stringify(scope.scope),
      this.#now(),
      by.reason,
    );
    return { ok: true, hold: this.get(id)! };
  }

  /**
   * Releases hold `id` now, by `by`, for `reason`. An unknown id is `hold_not_found`; a hold
   * already released stays as it was (`hold_already_released`, naming who released it and when).
   */
  release(id: string, input: HoldRelease): HoldResult {
    const reason = checkHoldReason(input.reason);
    if (!reason.ok) return invalid(reason.problem);
    const by = checkHoldReason(input.by, "released_by");
    if (!by.ok) return invalid(by.problem);
    const hold = this.get(id);
    if (!hold) return { ok: false, error: { reason: "hold_not_found", id } };
    if (hold.released_at !== undefined) {
      return {
        ok: false,
        error: { reason: "hold_already_released", id, releasedAt: hold.released_at, releasedBy: hold.released_by ?? "" },
      };
    }
    this.#sql.exec(
      "UPDATE holds SET released_at = ?, released_by = ?, release_reason = ? WHERE id = ? AND released_at IS NULL",
      this.#now(),
      by.reason,
      reason.reason,
      id,
    );
    return { ok: true, hold: this.get(id)! };
  }

  #select(where: string, ...params: SqlStorageValue[]): Hold[] {
    return this.#sql
      .exec(
        `SELECT id, reason, scope, created_at, created_by, released_at, released_by, release_reason FROM holds ${where} ORDER BY created_at, id`,
        ...params,
      )
      .toArray()
      .map((r) => ({
        id: String(r.id),
        reason: String(r.reason),
        scope: JSON.parse(String(r.scope)) as HoldScope,
        created_at: formatTimestamp(Number(r.created_at)),
        created_by: String(r.created_by),
        ...(r.released_at === null
          ? {}
          : {
              released_at: formatTimestamp(Number(r.released_at)),
              released_by: String(r.released_by),
              release_reason: String(r.release_reason),
            }),
      }));
  }
}
