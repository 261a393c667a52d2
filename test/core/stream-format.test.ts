import { describe, expect, it } from "vitest";
import { cloudEvent, ocsfActivity, ocsfClassOf, ocsfEvent, type StreamEntry } from "../../src/core/stream-format";

const entry = (action: string, outcome = "success"): { e: StreamEntry; view: Parameters<typeof ocsfEvent>[1] } => {
  const view = {
    tenant: "t1",
    seq: 7,
    received_at: "2026-01-02T03:04:05.006Z",
    event: { action, actor: { id: "u1", type: "user", name: "Ada" }, targets: [{ id: "acct-9", type: "account" }], outcome },
    provenance: { ip: "203.0.113.9" },
  };
  return { e: { seq: 7, entry: JSON.stringify(view), leafHash: "AAAA", receivedAtMs: Date.parse(view.received_at), action }, view };
};

describe("OCSF mapping (docs/streams.md)", () => {
  it.each([
    ["user.login", "authentication", 1],
    ["auth.sign_in", "authentication", 1],
    ["session.logout", "authentication", 2],
    ["user.created", "account_change", 1],
    ["user.password_reset", "account_change", 4],
    ["member.removed", "account_change", 6],
    ["invoice.created", "api_activity", 1],
    ["document.viewed", "api_activity", 2],
    ["document.updated", "api_activity", 3],
    ["document.deleted", "api_activity", 4],
    ["sealtrail.member.joined", "account_change", 1],
    ["sealtrail.member.removed", "account_change", 6],
    ["sealtrail.key.revoked", "api_activity", 4],
    ["sealtrail.stream.created", "api_activity", 1],
    ["sealtrail.alert.raised", "api_activity", 99],
  ] as const)("%s → %s, activity %d", (action, cls, activity) => {
    expect(ocsfClassOf(action)).toBe(cls);
    expect(ocsfActivity(cls, action).id).toBe(activity);
  });

  it("fills the class's fields, type_uid, status and the whole entry under unmapped", () => {
    const { e, view } = entry("user.login", "failure");
    expect(ocsfEvent(e, view, "sealtrail.localhost/t1")).toMatchObject({
      class_uid: 3002,
      category_uid: 3,
      activity_id: 1,
      type_uid: 300201,
      time: e.receivedAtMs,
      status_id: 2,
      metadata: { version: "1.1.0", uid: "t1:7", log_name: "sealtrail.localhost/t1" },
      actor: { user: { uid: "u1", name: "Ada", type: "user" } },
      src_endpoint: { ip: "203.0.113.9" },
      user: { uid: "acct-9", type: "account" },
      unmapped: { sealtrail: { action: "user.login", seq: 7, leaf_hash: "AAAA" } },
    });
  });

  it("CloudEvents 1.0: required attributes, the sequence extension as a string", () => {
    const { e, view } = entry("invoice.paid");
    expect(cloudEvent(e, view, "sealtrail.localhost/t1")).toMatchObject({
      specversion: "1.0",
      id: "t1:7",
      source: "sealtrail.localhost/t1",
      type: "invoice.paid",
      time: view.received_at,
      subject: "acct-9",
      sequence: "7",
      datacontenttype: "application/json",
      data: { seq: 7, leaf_hash: "AAAA", event: view.event },
    });
  });
});
