/**
 * Event schemas per action (issue #19.3; routes/schemas.ts → durable/event-schemas.ts): versions,
 * the refusal of a non-matching event (400 naming the path and version, nothing stored: neither
 * in the log nor in D1), whole batches refused, hostile schemas refused, changes logged.
 */
import { describe, expect, it } from "vitest";
import type { JsonObject } from "../../src/core/entry";
import type { AppendRequest } from "../../src/durable/sequencer";
import { api, bearer, createKey, entriesOf, event, logOf, mirroredDbOf, postEvent, tenantWithKeys, type Session } from "./helpers";

const json = { "content-type": "application/json" };
const putSchema = (who: Session | string, tenant: string, action: string, schema: unknown) =>
  api(`/v1/tenants/${tenant}/schemas/${action}`, {
    method: "PUT",
    headers: { ...json, ...(typeof who === "string" ? { "x-api-key": who } : bearer(who)) },
    body: JSON.stringify({ schema }),
  });
const getJson = async (who: Session, path: string) => {
  const res = await api(path, { headers: bearer(who) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

const PAYMENT = {
  type: "object",
  required: ["amount", "currency"],
  properties: {
    amount: { type: "number", minimum: 0 },
    currency: { type: "string", pattern: "^[A-Z]{3}$" },
    lines: { type: "array", items: { type: "object", properties: { sku: { type: "string" } } } },
  },
};

async function d1Rows(tenant: string): Promise<number> {
  const db = await mirroredDbOf(tenant);
  return (await db.prepare("SELECT COUNT(*) AS n FROM audit_events WHERE tenant_id = ?").bind(tenant).first<{ n: number }>())!.n;
}
const logSize = async (tenant: string) => (await logOf(tenant).stats()).size;

describe("event schemas", () => {
  it("a non-matching event is refused with 400 schema_violation naming the path and version; nothing is stored", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    expect((await putSchema(owner, tenant, "payment.made", PAYMENT)).status).toBe(201);
    const ok = await postEvent(tenant, appendKey, event({ action: "payment.made", metadata: { amount: 12.5, currency: "EUR" } }));
    expect(ok.status).toBe(201);
    const [size, rows] = [await logSize(tenant), await d1Rows(tenant)];

    const bad = await postEvent(tenant, appendKey, event({ action: "payment.made", metadata: { amount: "12", currency: "EUR" } }));
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("schema_violation");
    expect(body.error.message).toContain("/metadata/amount");
    expect(body.error.message).toContain("version 1");

    const nested = await postEvent(
      tenant,
      appendKey,
      event({ action: "payment.made", metadata: { amount: 1, currency: "EUR", lines: [{ sku: "a" }, { sku: 7 }] } }),
    );
    expect(nested.status).toBe(400);
    expect(((await nested.json()) as { error: { message: string } }).error.message).toContain("/metadata/lines/1/sku");
    // Absent metadata is {}: the required fields are missing.
    const absent = await postEvent(tenant, appendKey, event({ action: "payment.made" }));
    expect(absent.status).toBe(400);
    expect(((await absent.json()) as { error: { code: string } }).error.code).toBe("schema_violation");

    expect(await logSize(tenant)).toBe(size);
    expect(await d1Rows(tenant)).toBe(rows);
    // Actions without a schema pass as before.
    expect((await postEvent(tenant, appendKey, event({ action: "user.login", metadata: { amount: "x" } }))).status).toBe(201);
  });

  it("one bad event refuses its whole batch (nothing of it stored), naming the event's index", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    expect((await putSchema(owner, tenant, "payment.made", PAYMENT)).status).toBe(201);
    const size = await logSize(tenant);
    const res = await postEvent(tenant, appendKey, {
      events: [
        event({ action: "user.login" }),
        event({ action: "payment.made", metadata: { amount: 3, currency: "EUR" } }),
        event({ action: "payment.made", metadata: { amount: -1, currency: "EUR" } }),
      ],
    });
    expect(res.status).toBe(400);
    const msg = ((await res.json()) as { error: { message: string } }).error.message;
    expect(msg).toMatch(/^Event 2: \/metadata\/amount /);
    expect(await logSize(tenant)).toBe(size);
    expect(await d1Rows(tenant)).toBe(size);
  });

  it("a batcher's forward (appendMany): the non-matching request alone is refused, the others commit", async () => {
    const { owner, tenant } = await tenantWithKeys();
    expect((await putSchema(owner, tenant, "payment.made", PAYMENT)).status).toBe(201);
    const size = await logSize(tenant);
    const provenance = { principal_type: "api_key", principal_id: "k1", key_id: "k1" };
    const req = (metadata: JsonObject): AppendRequest => ({
      items: [{ event: event({ action: "payment.made", metadata }) as JsonObject }],
      provenance,
    });
    const answers = await logOf(tenant).appendMany(tenant, [
      req({ amount: 1, currency: "EUR" }),
      req({ amount: 2, currency: "euro" }),
      req({ amount: 3, currency: "USD" }),
    ]);
    expect(answers.map((a) => (a.ok ? "ok" : a.error.reason))).toEqual(["ok", "schema_violation", "ok"]);
    expect(answers[1]).toMatchObject({ error: { path: "/metadata/currency", version: 1, index: 0 } });
    expect(await logSize(tenant)).toBe(size + 2);
  });

  it("declarations are versions: the latest applies, earlier ones stay readable, and each change is logged", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const first = await putSchema(owner, tenant, "payment.made", PAYMENT);
    const v1 = (await first.json()) as { schema: { version: number; sha256: string }; receipt: { seq: number } };
    expect(v1.schema.version).toBe(1);
    const looser = { type: "object", properties: { amount: { type: ["number", "string"] } } };
    const second = await putSchema(owner, tenant, "payment.made", looser);
    const v2 = (await second.json()) as { schema: { version: number; sha256: string }; receipt: { seq: number } };
    expect(v2.schema.version).toBe(2);
    expect(v2.schema.sha256).not.toBe(v1.schema.sha256);
    // Version 2 applies now.
    expect((await postEvent(tenant, appendKey, event({ action: "payment.made", metadata: { amount: "12" } }))).status).toBe(201);

    const list = await getJson(owner, `/v1/tenants/${tenant}/schemas`);
    expect(list.status).toBe(200);
    expect(list.body.schemas).toEqual([expect.objectContaining({ action: "payment.made", version: 2, versions: 2 })]);
    const latest = await getJson(owner, `/v1/tenants/${tenant}/schemas/payment.made`);
    expect(latest.body).toMatchObject({ version: 2, schema: looser });
    const old = await getJson(owner, `/v1/tenants/${tenant}/schemas/payment.made?version=1`);
    expect(old.body).toMatchObject({ version: 1, schema: PAYMENT, created_by: `user:${owner.userId}` });
    expect((await getJson(owner, `/v1/tenants/${tenant}/schemas/payment.made?version=3`)).status).toBe(404);
    expect((await getJson(owner, `/v1/tenants/${tenant}/schemas/other.action`)).status).toBe(404);

    const logged = await entriesOf(owner, tenant, "sealtrail.schema.changed");
    expect(logged.map((e) => e.seq)).toEqual([v1.receipt.seq, v2.receipt.seq]);
    expect(logged.map((e) => e.event.metadata)).toEqual([
      { action: "payment.made", version: 1, sha256: v1.schema.sha256 },
      { action: "payment.made", version: 2, sha256: v2.schema.sha256 },
    ]);
    expect(logged[0]!.event).toMatchObject({
      actor: { id: owner.userId, type: "user" },
      targets: [{ id: "payment.made", type: "event_schema" }],
    });
  });

  it("only admins declare schemas; appenders and readers may read them", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    expect((await putSchema(appendKey, tenant, "payment.made", PAYMENT)).status).toBe(403);
    expect((await putSchema(readKey, tenant, "payment.made", PAYMENT)).status).toBe(403);
    const admin = await createKey(owner, tenant, ["admin"], "admin");
    expect((await putSchema(admin, tenant, "payment.made", PAYMENT)).status).toBe(201);
    const read = await api(`/v1/tenants/${tenant}/schemas/payment.made`, { headers: { "x-api-key": appendKey } });
    expect(read.status).toBe(200);
    // The service's own actions take no schema.
    expect((await putSchema(owner, tenant, "sealtrail.events.listed", PAYMENT)).status).toBe(404);
  });

  it("hostile or invalid schemas are refused with 400 invalid_event_schema, storing and logging nothing", async () => {
    const { owner, tenant } = await tenantWithKeys();
    const size = await logSize(tenant);
    let deep: Record<string, unknown> = { type: "object" };
    for (let i = 0; i < 5; i++) deep = { type: "object", properties: { a: deep } };
    const cases: [string, unknown][] = [
      ["remote $ref", { $ref: "https://evil.example/schema.json" }],
      ["remote $ref inside", { properties: { a: { $ref: "http://169.254.169.254/latest" } } }],
      ["$id", { $id: "https://evil.example/", type: "object" }],
      ["dangling $ref", { $ref: "#/$defs/nope" }],
      ["a $ref loop", { $ref: "#/$defs/a", $defs: { a: { $ref: "#/$defs/b" }, b: { allOf: [{ $ref: "#/$defs/a" }] } } }],
      ["a loop reached under a property", { properties: { x: { $ref: "#/$defs/a" } }, $defs: { a: { $ref: "#/$defs/a" } } }],
      ["too deep", deep],
      [
        "too large",
        { type: "object", properties: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`field_${i}`, { type: "string" }])) },
      ],
      ["catastrophic pattern", { properties: { a: { type: "string", pattern: "^(a+)+$" } } }],
      ["invalid pattern", { properties: { a: { type: "string", pattern: "([" } } }],
      ["risky patternProperties", { patternProperties: { "(x*)*y": { type: "string" } } }],
      ["unknown type", { type: "money" }],
      ["required not an array", { required: "amount" }],
      ["minLength not a count", { properties: { a: { minLength: -1 } } }],
      ["another draft", { $schema: "http://json-schema.org/draft-04/schema#" }],
      ["a subschema that is a string", { properties: { a: "string" } }],
    ];
    for (const [name, schema] of cases) {
      const res = await putSchema(owner, tenant, "payment.made", schema);
      const body = (await res.json()) as { error: { code: string } };
      expect([name, res.status, body.error.code]).toEqual([name, 400, "invalid_event_schema"]);
    }
    expect((await putSchema(owner, tenant, "payment.made", "not an object")).status).toBe(400);
    expect(await logSize(tenant)).toBe(size);
    expect((await getJson(owner, `/v1/tenants/${tenant}/schemas`)).body.schemas).toEqual([]);
  });

  it("a recursive schema that descends into the event is fine, and local $refs resolve", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    const tree = {
      $ref: "#/$defs/node",
      $defs: { node: { type: "object", properties: { child: { $ref: "#/$defs/node" }, n: { type: "integer" } } } },
    };
    expect((await putSchema(owner, tenant, "tree.made", tree)).status).toBe(201);
    expect((await postEvent(tenant, appendKey, event({ action: "tree.made", metadata: { child: { child: { n: 1 } } } }))).status).toBe(201);
    const bad = await postEvent(tenant, appendKey, event({ action: "tree.made", metadata: { child: { child: { n: 1.5 } } } }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain("/metadata/child/child/n");
  });
});
