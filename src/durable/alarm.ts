/**
 * The Durable Object's one alarm, shared by every part that needs a later run: the mirror's
 * watchdog and backoff, the sealer's due time and backoff, the idempotency sweep, the tile
 * writer's backlog and retry, and witness submissions (docs/storage-schema.md "Alarm").
 * `arm(at)` only ever moves the alarm earlier, so no part postpones another's run.
 */
const RETRY_MAX_MS = 60_000;
/** Wait after `failures` failures in a row: 2 s, 4 s … 60 s (the mirror's and the sealer's retries). */
export const backoffMs = (failures: number): number => Math.min(1000 * 2 ** Math.min(failures, 6), RETRY_MAX_MS);

export class Alarm {
  readonly #storage: DurableObjectStorage;
  /** The time the stored alarm is set for, as far as this object knows (null: none). */
  #at: number | null = null;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
  }

  /** Reads the stored alarm (at start, before anything arms one). */
  async load(): Promise<void> {
    this.#at = await this.#storage.getAlarm();
  }

  /** Called when the alarm runs: the runtime has cleared it. */
  fired(): void {
    this.#at = null;
  }

  /** Runs the alarm at `at`, or earlier if it is already set earlier. */
  arm(at: number): void {
    if (this.#at !== null && this.#at <= at) return;
    this.#at = at;
    void this.#storage.setAlarm(at);
  }
}
