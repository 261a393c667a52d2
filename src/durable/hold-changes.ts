/**
 * Creating and releasing a legal hold, as the TenantLog does it (`createHold`, `releaseHold`):
 * the hold row (holds.ts) is written in the commit's own transaction that appends the entry
 * recording it, `sealtrail.hold.created` or `sealtrail.hold.released` (who: the entry's actor;
 * why: `metadata.reason`; what: `metadata.scope`). A hold never starts or ends without its
 * entry, and a refused change stores nothing. (The rule retention changes obey is
 * src/core/holds.ts `retentionLoweringRefused`.)
 */
import type { JsonObject } from "../core/entry";
import { checkHoldReason, checkHoldScope, type Hold, type HoldScope } from "../core/holds";
import { oversizedEntry } from "./entry-size";
import type { GroupCommit } from "./group-commit";
import type { HoldError, HoldResult, HoldStore } from "./holds";
import type { TenantSettings } from "./log-store";
import type { LogError, Receipt } from "./log-types";

export type HoldChangeResult = { ok: true; hold: Hold; receipt: Receipt } | { ok: false; error: LogError };

/** The hold's wire form, as a JSON object for an entry's metadata. */
const asJson = (scope: HoldScope): JsonObject => ({ ...scope });

/** Who changes a hold: the actor of the entry that records it, `<type>:<id>` (a user id, or an API key's id). */
export function actorOf(event: JsonObject): string {
  const actor = event.actor as { id?: unknown; type?: unknown } | undefined;
  return `${String(actor?.type)}:${String(actor?.id)}`;
}

/**
 * Appends `event` (the principal's, built by the Worker) completed with the hold's target and
 * metadata, and applies `change` in the same transaction. `plan` runs first and names the
 * entry's metadata (and may refuse): the entry is checked against the entry size limit before
 * any row is written.
 */
async function commitHoldChange(
  deps: { commit: GroupCommit; holds: HoldStore },
  tenant: string,
  event: JsonObject,
  provenance: JsonObject,
  plan: (holds: HoldStore) => { ok: true; holdId: string; metadata: JsonObject } | { ok: false; error: HoldError },
  change: (holds: HoldStore, holdId: string) => HoldResult,
): Promise<HoldChangeResult> {
  const req = { items: [{ event }], provenance };
  let hold: Hold | undefined;
  const result = await deps.commit.enqueue(tenant, {
    req,
    prepare: () => {
      const p = plan(deps.holds);
      if (!p.ok) return p.error;
      const items = [
        {
          event: {
            ...event,
            targets: [{ id: p.holdId, type: "legal_hold" }],
            metadata: { ...(event.metadata as JsonObject | undefined), ...p.metadata },
          },
        },
      ];
      const tooLarge = oversizedEntry(tenant, items, provenance);
      if (tooLarge) return tooLarge;
      const changed = change(deps.holds, p.holdId);
      // Refused: nothing was written (the store checks before it writes).
      if (!changed.ok) return changed.error;
      req.items = items;
      hold = changed.hold;
      return undefined;
    },
  });
  // Durable now (or not at all): the group's transaction committed the hold row and its entry
  // together; a crash before the commit loses both, and the caller got no answer.
  if (!result.ok) return result;
  return { ok: true, hold: hold!, receipt: result.receipts[0]! };
}

/** Creates a hold (`sealtrail.hold.created`, metadata `{hold_id, reason, scope}`). */
export function createHold(
  deps: { commit: GroupCommit; holds: HoldStore },
  tenant: string,
  input: { reason: string; scope: HoldScope },
  event: JsonObject,
  provenance: JsonObject,
): Promise<HoldChangeResult> {
  const holdId = `hold_${crypto.randomUUID()}`;
  const by = actorOf(event);
  return commitHoldChange(
    deps,
    tenant,
    event,
    provenance,
    () => {
      const scope = checkHoldScope(input.scope);
      if (!scope.ok) return { ok: false, error: { reason: "invalid_hold", ...scope.problem } };
      const reason = checkHoldReason(input.reason);
      if (!reason.ok) return { ok: false, error: { reason: "invalid_hold", ...reason.problem } };
      return { ok: true, holdId, metadata: { hold_id: holdId, reason: reason.reason, scope: asJson(scope.scope) } };
    },
    (holds, id) => holds.create({ id, reason: input.reason, scope: input.scope, by }),
  );
}

/**
 * Releases hold `id` (`sealtrail.hold.released`, metadata `{hold_id, reason, scope, hold_reason,
 * created_at, created_by}`: why it is released, and the hold it ends).
 */
export function releaseHold(
  deps: { commit: GroupCommit; holds: HoldStore },
  tenant: string,
  id: string,
  input: { reason: string },
  event: JsonObject,
  provenance: JsonObject,
): Promise<HoldChangeResult> {
  const by = actorOf(event);
  return commitHoldChange(
    deps,
    tenant,
    event,
    provenance,
    (holds) => {
      const hold = holds.get(id);
      if (!hold) return { ok: false, error: { reason: "hold_not_found", id } };
      const reason = checkHoldReason(input.reason);
      if (!reason.ok) return { ok: false, error: { reason: "invalid_hold", ...reason.problem } };
      return {
        ok: true,
        holdId: id,
        metadata: {
          hold_id: id,
          reason: reason.reason,
          scope: asJson(hold.scope),
          hold_reason: hold.reason,
          created_at: hold.created_at,
          created_by: hold.created_by,
        },
      };
    },
    (holds) => holds.release(id, { reason: input.reason, by }),
  );
}

/** The id of the hold a former `legal_hold: true` setting became. */
export const LEGAL_HOLD_SETTING_HOLD_ID = "hold_legal_hold_setting";

/**
 * A tenant whose settings still say `legal_hold: true` (the setting that preceded holds) gets a
 * whole-tenant hold in its place, once, when its object starts: the promise that setting made
 * (retention not lowered) is kept by the hold, and lifting it is a logged release like any
 * other. The hold has no `sealtrail.hold.created` entry of its own: the setting's change to
 * true is in the log (`sealtrail.settings.updated`), and the hold's reason and creator say so.
 */
export function convertLegalHoldSetting(
  storage: DurableObjectStorage,
  store: { settings(): TenantSettings; writeSettings(s: TenantSettings): void; forgetCached(): void },
  holds: HoldStore,
): void {
  const s = store.settings();
  if (!s.legalHold) return;
  try {
    storage.transactionSync(() => {
      if (!holds.get(LEGAL_HOLD_SETTING_HOLD_ID)) {
        holds.create({
          id: LEGAL_HOLD_SETTING_HOLD_ID,
          reason: "legal_hold was on in the tenant's settings (before holds existed); see the sealtrail.settings.updated entry that set it",
          scope: { kind: "tenant" },
          by: "sealtrail:settings",
        });
      }
      store.writeSettings({ ...s, legalHold: false });
    });
    // Durable now: the hold and the cleared setting together. A crash before the commit leaves
    // the setting true, and the next start converts it again.
  } catch (e) {
    console.error("converting the legal_hold setting failed", e);
    store.forgetCached();
  }
}
