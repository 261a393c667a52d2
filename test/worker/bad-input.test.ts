import { describe, expect, it } from "vitest";
import { LIMITS } from "../../src/worker/event-schema";
import { api, event, logOf, tenantWithKeys, mirroredDbOf } from "./helpers";

const utf8 = (s: string) => new TextEncoder().encode(s);

interface Case {
  desc: string;
  body: string | Uint8Array;
  headers?: Record<string, string>;
  status: number;
  code: string;
}

const ev = (extra: Record<string, unknown> = {}) => JSON.stringify(event(extra));
const nested = (depth: number): unknown => (depth === 0 ? 1 : { a: nested(depth - 1) });

const cases: Case[] = [
  { desc: "unknown top-level field", body: ev({ severity: "high" }), status: 400, code: "unknown_field" },
  { desc: "client-supplied provenance", body: ev({ provenance: { ip: "1.2.3.4" } }), status: 400, code: "unknown_field" },
  { desc: "unknown field inside actor", body: ev({ actor: { id: "u", type: "user", admin: true } }), status: 400, code: "unknown_field" },
  {
    desc: "invalid UTF-8",
    body: new Uint8Array([...utf8('{"action":"a.b","x":"'), 0xff, 0xfe, ...utf8('"}')]),
    status: 400,
    code: "invalid_utf8",
  },
  {
    desc: "overlong UTF-8 encoding",
    body: new Uint8Array([...utf8('{"action":"'), 0xc0, 0xaf, ...utf8('"}')]),
    status: 400,
    code: "invalid_utf8",
  },
  {
    desc: "lone high surrogate escape",
    body: ev({ actor: { id: "\\ud800", type: "user" } }).replace("\\\\ud800", "\\ud800"),
    status: 400,
    code: "lone_surrogate",
  },
  {
    desc: "lone low surrogate in a key",
    body: ev({ metadata: { x: 1 } }).replace('"x"', '"\\udc00"'),
    status: 400,
    code: "lone_surrogate",
  },
  {
    desc: "duplicate keys",
    body: '{"action":"a.b","action":"c.d","actor":{"id":"u","type":"user"},"outcome":"success"}',
    status: 400,
    code: "duplicate_key",
  },
  {
    desc: "duplicate keys spelled with escapes",
    body: ev({ metadata: { ab: 1 } }).replace('{"ab":1}', '{"ab":1,"\\u0061b":2}'),
    status: 400,
    code: "duplicate_key",
  },
  { desc: "__proto__ key", body: ev({ metadata: { x: 1 } }).replace('"x"', '"__proto__"'), status: 400, code: "reserved_key" },
  { desc: "metadata nested too deep", body: ev({ metadata: nested(LIMITS.maxEventDepth) as object }), status: 400, code: "too_deep" },
  { desc: "body nested too deep", body: "[".repeat(5000) + "]".repeat(5000), status: 400, code: "too_deep" },
  {
    desc: "integer beyond 2^53",
    body: ev({ metadata: { n: 1 } }).replace('"n":1', '"n":9007199254740993'),
    status: 400,
    code: "number_out_of_range",
  },
  {
    desc: "number overflowing a double",
    body: ev({ metadata: { n: 1 } }).replace('"n":1', '"n":1e400'),
    status: 400,
    code: "number_out_of_range",
  },
  { desc: "not JSON", body: "action=user.login", status: 400, code: "invalid_json" },
  { desc: "empty body", body: "", status: 400, code: "invalid_json" },
  { desc: "trailing garbage", body: `${ev()}x`, status: 400, code: "invalid_json" },
  { desc: "a byte-order mark", body: `\ufeff${ev()}`, status: 400, code: "invalid_json" },
  { desc: "a JSON array instead of an event", body: "[]", status: 400, code: "invalid_event" },
  { desc: "action not a dotted name", body: ev({ action: "user login" }), status: 400, code: "invalid_event" },
  {
    desc: "an action reserved for the service's own entries",
    body: ev({ action: "sealtrail.settings.updated" }),
    status: 400,
    code: "reserved_action",
  },
  { desc: "a reserved action in another case", body: ev({ action: "SealTrail.Member.Joined" }), status: 400, code: "reserved_action" },
  {
    desc: "batch with one reserved action",
    body: JSON.stringify({ events: [event(), event({ action: "sealtrail.key.revoked" })] }),
    status: 400,
    code: "reserved_action",
  },
  {
    desc: "integer 2^53 + 1 in exponent form",
    body: ev({ metadata: { n: 1 } }).replace('"n":1', '"n":9.007199254740993e15'),
    status: 400,
    code: "number_out_of_range",
  },
  {
    desc: "a number rounded to zero",
    body: ev({ metadata: { n: 1 } }).replace('"n":1', '"n":1e-400'),
    status: 400,
    code: "number_out_of_range",
  },
  { desc: "missing actor", body: JSON.stringify({ action: "a.b", outcome: "success" }), status: 400, code: "invalid_event" },
  { desc: "unknown outcome", body: ev({ outcome: "maybe" }), status: 400, code: "invalid_event" },
  { desc: "occurred_at not a timestamp", body: ev({ occurred_at: "yesterday" }), status: 400, code: "invalid_event" },
  {
    desc: "too many targets",
    body: ev({ targets: Array.from({ length: LIMITS.maxTargets + 1 }, (_, i) => ({ id: `t${i}`, type: "x" })) }),
    status: 400,
    code: "invalid_event",
  },
  {
    desc: "metadata over its size limit",
    body: ev({ metadata: { big: "x".repeat(LIMITS.maxMetadataBytes) } }),
    status: 400,
    code: "invalid_event",
  },
  {
    desc: "event over its size limit",
    body: ev({
      metadata: { a: "x".repeat(12_000) },
      context: Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`k${i}`, "y".repeat(1000)])),
    }),
    status: 413,
    code: "event_too_large",
  },
  {
    desc: "body over 1 MiB",
    body: JSON.stringify({ events: [event({ metadata: { pad: "x".repeat(LIMITS.maxBodyBytes) } })] }),
    status: 413,
    code: "body_too_large",
  },
  {
    desc: "batch over its event limit",
    body: JSON.stringify({ events: Array.from({ length: LIMITS.maxBatchEvents + 1 }, () => event()) }),
    status: 413,
    code: "too_many_events",
  },
  { desc: "empty batch", body: JSON.stringify({ events: [] }), status: 400, code: "invalid_event" },
  {
    desc: "batch with an invalid event",
    body: JSON.stringify({ events: [event(), event({ outcome: "?" })] }),
    status: 400,
    code: "invalid_event",
  },
  {
    desc: "batch with an Idempotency-Key header",
    body: JSON.stringify({ events: [event()] }),
    headers: { "idempotency-key": "k" },
    status: 400,
    code: "invalid_idempotency_key",
  },
  {
    desc: "Idempotency-Key too long",
    body: ev(),
    headers: { "idempotency-key": "k".repeat(LIMITS.maxIdempotencyKeyLength + 1) },
    status: 400,
    code: "invalid_idempotency_key",
  },
  { desc: "Idempotency-Key with a space", body: ev(), headers: { "idempotency-key": "a b" }, status: 400, code: "invalid_idempotency_key" },
  { desc: "wrong content type", body: ev(), headers: { "content-type": "text/plain" }, status: 415, code: "unsupported_media_type" },
  {
    desc: "form content type",
    body: ev(),
    headers: { "content-type": "application/x-www-form-urlencoded" },
    status: 415,
    code: "unsupported_media_type",
  },
];

describe("bad input gets a clear 4xx and nothing is stored", async () => {
  // `base`: the entries the setup wrote (the keys' creation), before any event.
  const { tenant, appendKey, base } = await tenantWithKeys();

  for (const c of cases) {
    it(`${c.desc}: ${c.status} ${c.code}`, async () => {
      const res = await api(`/v1/tenants/${tenant}/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": appendKey, ...c.headers },
        body: c.body,
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(res.status, JSON.stringify(body)).toBe(c.status);
      expect(body.error.code).toBe(c.code);
      expect(body.error.message.length).toBeGreaterThan(0);
    });
  }

  it("after all of the above, the tenant's log holds no event (only the keys' creation)", async () => {
    const stats = await logOf(tenant).stats();
    expect(stats.size).toBe(base);
    const row = await (await mirroredDbOf(tenant))
      .prepare("SELECT count(*) AS n FROM audit_events WHERE tenant_id = ?")
      .bind(tenant)
      .first<{ n: number }>();
    expect(row!.n).toBe(base);
  });

  it("valid but hostile content is stored verbatim", async () => {
    const hostile = '<script>alert(1)</script>\r\nSet-Cookie: x\u001b[31m\u202egnp.exe\u0000=HYPERLINK("x")';
    const res = await api(`/v1/tenants/${tenant}/events`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8", "x-api-key": appendKey },
      body: ev({ actor: { id: hostile, type: "user" }, metadata: { note: hostile } }),
    });
    expect(res.status).toBe(201);
    const row = await (await mirroredDbOf(tenant))
      .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? AND seq = ?")
      .bind(tenant, base)
      .first<{ entry: string }>();
    const stored = JSON.parse(row!.entry) as { event: { actor: { id: string }; metadata: { note: string } } };
    expect(stored.event.actor.id).toBe(hostile);
    expect(stored.event.metadata.note).toBe(hostile);
  });
});
