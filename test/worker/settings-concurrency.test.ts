/**
 * Issue #13, finding 6: concurrent settings changes lose nothing, and the before/after each
 * logs is the state it really changed. (Retention under legal holds: test/worker/holds.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { api, bearer, createTenant, signUp, type Session } from "./helpers";

interface SettingsView {
  seal_interval_seconds: number;
  retention_days: number;
  legal_hold: boolean;
  max_clock_skew_seconds: number;
  public_log: boolean;
}

const json = { "content-type": "application/json" };
const put = (owner: Session, tenant: string, patch: Partial<SettingsView>) =>
  api(`/v1/tenants/${tenant}/settings`, { method: "PUT", headers: { ...json, ...bearer(owner) }, body: JSON.stringify(patch) });
const current = async (owner: Session, tenant: string) =>
  (await (await api(`/v1/tenants/${tenant}/settings`, { headers: bearer(owner) })).json()) as SettingsView;

async function loggedChanges(owner: Session, tenant: string) {
  const res = await api(`/v1/tenants/${tenant}/events?action=sealtrail.settings.updated&limit=100`, { headers: bearer(owner) });
  expect(res.status).toBe(200);
  const { events } = (await res.json()) as {
    events: { seq: number; event: { metadata: { before: SettingsView; after: SettingsView } } }[];
  };
  return events.map((e) => ({ seq: e.seq, ...e.event.metadata }));
}

describe("settings changes", () => {
  it("concurrent PUTs of different fields all survive, and each logged before is the previous logged after", async () => {
    const owner = await signUp();
    const tenant = await createTenant(owner);
    const initial = await current(owner, tenant);
    const patches: Partial<SettingsView>[] = [
      { public_log: true },
      { retention_days: 4380 },
      ...[101, 102, 103, 104, 105].map((s) => ({ seal_interval_seconds: s })),
      ...[61, 62, 63, 64, 65].map((s) => ({ max_clock_skew_seconds: s })),
    ];
    const results = await Promise.all(patches.map((p) => put(owner, tenant, p)));
    expect(results.map((r) => r.status)).toEqual(patches.map(() => 200));
    const answers = (await Promise.all(results.map((r) => r.json()))) as { settings: SettingsView; receipt: { seq: number } }[];

    const changes = await loggedChanges(owner, tenant);
    expect(changes).toHaveLength(patches.length);
    // In sequence order, every change starts from where the one before it ended.
    expect(changes[0]!.before).toEqual(initial);
    for (let i = 1; i < changes.length; i++) expect(changes[i]!.before, `change at seq ${changes[i]!.seq}`).toEqual(changes[i - 1]!.after);
    // Each change is its patch applied to its before, nothing else.
    for (const [i, answer] of answers.entries()) {
      const logged = changes.find((c) => c.seq === answer.receipt.seq)!;
      expect(logged.after).toEqual({ ...logged.before, ...patches[i] });
      expect(answer.settings).toEqual(logged.after);
    }
    // Every field change survived: the public log and the retention, and the last write of the others.
    const final = await current(owner, tenant);
    expect(final).toEqual(changes[changes.length - 1]!.after);
    expect(final).toMatchObject({ public_log: true, retention_days: 4380 });
    const lastOf = (field: keyof SettingsView) => [...changes].reverse().find((c) => c.before[field] !== c.after[field])!.after[field];
    expect(final.seal_interval_seconds).toBe(lastOf("seal_interval_seconds"));
    expect(final.max_clock_skew_seconds).toBe(lastOf("max_clock_skew_seconds"));
  });
});
