/**
 * Personal fields and erasure by crypto-shredding (issue #17.3, #17.4): declared fields are
 * ciphertext in every raw store and plaintext only to readers; erasure destroys the subject's
 * keys so the plaintext is gone from every store and answer, while every proof and a full
 * verification still pass; a legal hold covering the subject refuses erasure.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { canonicalize, type JsonValue } from "../../src/core/jcs";
import { entryLeafHash } from "../../src/core/entry";
import { parseVerifierKey } from "../../src/core/note";
import { verifyTlogProof } from "../../src/core/tlog-proof";
import { fieldAad, parseEncryptedField, subjectHash } from "../../src/core/personal-fields";
import { HoldStore } from "../../src/durable/holds";
import { PersonalFields, subjectKeysAvailable } from "../../src/durable/personal-fields";
import { LogStore } from "../../src/durable/log-store";
import { runVerification } from "../durable/log-helpers";
import {
  type Session,
  api,
  auditOf,
  bearer,
  bucketOf,
  createKey,
  dbOf,
  event,
  logOf,
  mirrored,
  postEvent,
  tenantWithKeys,
} from "./helpers";

const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

function settings(owner: Session, tenant: string, patch: unknown) {
  return api(`/v1/tenants/${tenant}/settings`, {
    method: "PUT",
    headers: { "content-type": "application/json", ...bearer(owner) },
    body: JSON.stringify(patch),
  });
}

const erase = (owner: Session | string, tenant: string, subject: string) =>
  api(`/v1/tenants/${tenant}/subjects/${encodeURIComponent(subject)}/erase`, {
    method: "POST",
    headers: typeof owner === "string" ? { "x-api-key": owner } : bearer(owner),
  });

/** Text of a stored value: blobs as UTF-8 (and Latin-1, so no byte sequence hides a match). */
function textOf(v: unknown): string {
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
    const bytes = v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    return new TextDecoder().decode(bytes) + String.fromCharCode(...bytes.slice(0, 65_536));
  }
  return typeof v === "string" ? v : JSON.stringify(v);
}

async function d1Text(db: D1Database): Promise<string> {
  const { results } = await db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite_%'")
    .all<{ name: string }>();
  let out = "";
  for (const { name } of results) {
    const rows = await db.prepare(`SELECT * FROM "${name}"`).all();
    for (const r of rows.results) out += Object.values(r).map(textOf).join("\u0000");
  }
  return out;
}

function sqlText(sql: SqlStorage): string {
  let out = "";
  const tables = sql.exec("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'").toArray();
  for (const t of tables) {
    for (const r of sql.exec(`SELECT * FROM "${String(t.name)}"`).toArray()) out += Object.values(r).map(textOf).join("\u0000");
  }
  return out;
}

/** Every raw store a tenant's data reaches: D1 (its shard and the control database), both DOs' SQLite, R2, KV. */
async function rawStores(tenant: string): Promise<{ text: string; r2Keys: string[] }> {
  let text = (await d1Text(await dbOf(tenant))) + (await d1Text(env.DB));
  text += await runInDurableObject(logOf(tenant), (_o, state) => sqlText(state.storage.sql));
  text += await runInDurableObject(auditOf(tenant), (_o, state) => sqlText(state.storage.sql));
  const bucket = await bucketOf(tenant);
  const r2Keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await bucket.list({ prefix: `tenants/${tenant}/`, ...(cursor ? { cursor } : {}) });
    for (const o of page.objects) {
      r2Keys.push(o.key);
      text += textOf(await (await bucket.get(o.key))!.arrayBuffer());
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  let kvCursor: string | undefined;
  do {
    const page = await env.KV.list({ ...(kvCursor ? { cursor: kvCursor } : {}) });
    for (const k of page.keys) text += k.name + ((await env.KV.get(k.name)) ?? "");
    kvCursor = page.list_complete ? undefined : page.cursor;
  } while (kvCursor);
  return { text, r2Keys };
}

async function verifierKeyOf(tenant: string): Promise<string> {
  const { keys } = (await (await api(`/v1/keys?tenant=${tenant}`)).json()) as { keys: { verifier_key: string }[] };
  return keys[0]!.verifier_key;
}

interface EntryJson {
  seq: number;
  event: { actor: { name?: string }; metadata?: Record<string, unknown>; targets?: { name?: string }[] };
  entry: string;
  personal?: { path: string; state: string; value?: unknown; erased_by?: number }[];
}

describe("personal fields and erasure (issue #17.3)", () => {
  it("the service's own entries keep their metadata readable (what verifiers and the log read), whatever is declared", async () => {
    const { owner, tenant } = await tenantWithKeys();
    // Names a client might well use for personal data, and that service entries use for structure.
    const fields = ["metadata.after", "metadata.before", "metadata.to", "metadata.from", "metadata.checkpoint", "metadata.reason"];
    expect((await settings(owner, tenant, { personal_fields: fields })).status).toBe(200);
    expect((await settings(owner, tenant, { seal_interval_seconds: 120 })).status).toBe(200);
    const logged = (await (
      await api(`/v1/tenants/${tenant}/events?action=sealtrail.settings.updated`, { headers: bearer(owner) })
    ).json()) as { events: { entry: string; event: { metadata: { after: unknown; before: unknown } } }[] };
    const last = logged.events.at(-1)!;
    expect(last.event.metadata.after).toMatchObject({ seal_interval_seconds: 120, personal_fields: fields });
    expect(last.event.metadata.before).toMatchObject({ seal_interval_seconds: 60 });
    expect(last.entry).not.toContain("sealtrail:enc:");
  });

  it("settings: personal_fields are validated, logged like any setting, and shown", async () => {
    const { owner, tenant } = await tenantWithKeys();
    for (const bad of [
      ["actor.id"],
      ["actor.email"],
      ["metadata"],
      ["metadata..x"],
      ["context.a.b"],
      ["nope.x"],
      ["actor.name", "actor.name"],
    ]) {
      const res = await settings(owner, tenant, { personal_fields: bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe("invalid_settings");
    }
    const fields = ["actor.name", "targets[].name", "metadata.email", "metadata.profile.phone", "context.ip"];
    const res = await settings(owner, tenant, { personal_fields: fields });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { settings: { personal_fields: string[] } }).settings.personal_fields).toEqual(fields);
    const got = (await (await api(`/v1/tenants/${tenant}/settings`, { headers: bearer(owner) })).json()) as { personal_fields: string[] };
    expect(got.personal_fields).toEqual(fields);
    const logged = (await (
      await api(`/v1/tenants/${tenant}/events?action=sealtrail.settings.updated`, { headers: bearer(owner) })
    ).json()) as { events: { event: { metadata: { before: { personal_fields: string[] }; after: { personal_fields: string[] } } } }[] };
    const last = logged.events.at(-1)!.event.metadata;
    expect(last.before.personal_fields).toEqual([]);
    expect(last.after.personal_fields).toEqual(fields);
    // A deployment without a subject key secret of at least 32 bytes cannot encrypt (the route answers 503 personal_fields_unavailable).
    expect(subjectKeysAvailable(env)).toBe(true);
    expect(subjectKeysAvailable({})).toBe(false);
    expect(subjectKeysAvailable({ SEALTRAIL_SUBJECT_KEY_SECRET: "x".repeat(31) })).toBe(false);
  });

  it(
    "declared fields are ciphertext in every raw store and plaintext to readers; after erasure the plaintext is nowhere, " +
      "reads and exports say erased, and every proof and a full verification pass",
    async () => {
      const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
      const verifyKey = await createKey(owner, tenant, ["verify", "read"]);
      expect((await settings(owner, tenant, { personal_fields: ["actor.name", "targets[].name", "metadata.email"] })).status).toBe(200);
      const name = `Ada Lovelace ${unique()}`;
      const email = `ada-${unique()}@example.org`;
      const other = `Grace Hopper ${unique()}`;
      const subject = `user-${unique()}`;
      const ada = event({
        actor: { id: subject, type: "user", name },
        targets: [{ id: "doc-1", type: "document", name: `${name}'s notes` }],
        metadata: { email, plan: "pro" },
      });
      const first = await postEvent(tenant, appendKey, ada);
      expect(first.status).toBe(201);
      const seq = ((await first.json()) as { seq: number }).seq;
      // Another subject, whose fields erasure must not touch.
      expect((await postEvent(tenant, appendKey, event({ actor: { id: "user-other", type: "user", name: other } }))).status).toBe(201);
      // Enough entries for full entry tiles in R2 (256 a tile), then a seal: bundles too.
      for (let i = 0; i < 3; i++) {
        const batch = { events: Array.from({ length: 100 }, (_, j) => event({ metadata: { i: i * 100 + j } })) };
        expect((await postEvent(tenant, appendKey, batch)).status).toBe(201);
      }
      expect((await api(`/v1/tenants/${tenant}/seal`, { method: "POST", headers: bearer(owner) })).status).toBe(200);
      await runDurableObjectAlarm(logOf(tenant));
      await mirrored(tenant);

      const before = await rawStores(tenant);
      expect(
        before.r2Keys.some((k) => k.includes("/tile/entries/")),
        before.r2Keys.join(" "),
      ).toBe(true);
      expect(
        before.r2Keys.some((k) => k.endsWith("/bundle.jsonl")),
        before.r2Keys.join(" "),
      ).toBe(true);
      for (const secret of [name, email, other]) expect(before.text.includes(secret), secret).toBe(false);
      // The encrypted form is there instead, and the stored `event` shows it.
      const read = { "x-api-key": readKey };
      const one = (await (await api(`/v1/tenants/${tenant}/events/${seq}`, { headers: read })).json()) as EntryJson;
      expect(one.event.actor.name).toMatch(/^sealtrail:enc:v1:[0-9a-f]{16}:/);
      expect(one.event.metadata!.plan).toBe("pro");
      expect(one.personal).toEqual([
        // In the stored event's (RFC 8785) order.
        { path: "actor.name", state: "decrypted", value: name },
        { path: "metadata.email", state: "decrypted", value: email },
        { path: "targets.0.name", state: "decrypted", value: `${name}'s notes` },
      ]);
      const list = await (await api(`/v1/tenants/${tenant}/events?actor=${subject}`, { headers: read })).text();
      expect(list).toContain(name);
      const csv = await (await api(`/v1/tenants/${tenant}/export?format=csv&actor=${subject}`, { headers: read })).text();
      expect(csv).toContain(name);
      expect(csv).toContain(email);
      const jsonl = await (await api(`/v1/tenants/${tenant}/export?format=jsonl&actor=${subject}`, { headers: read })).text();
      expect(jsonl).not.toContain(name);
      expect(jsonl.trim()).toBe(one.entry);
      const decryptedJsonl = await (
        await api(`/v1/tenants/${tenant}/export?format=jsonl&personal=decrypted&actor=${subject}`, { headers: read })
      ).text();
      expect(JSON.parse(decryptedJsonl.trim())).toEqual(one);

      // Erasure: owner/admin only; logged with the subject hashed.
      expect((await erase(readKey, tenant, subject)).status).toBe(403);
      const erased = await erase(owner, tenant, subject);
      expect(erased.status).toBe(200);
      const answer = (await erased.json()) as { subject_hash: string; keys_destroyed: number; receipt: { seq: number } };
      expect(answer.subject_hash).toBe(subjectHash(tenant, subject));
      expect(answer.keys_destroyed).toBe(1);
      const log = (await (await api(`/v1/tenants/${tenant}/events?action=sealtrail.subject.erased`, { headers: read })).json()) as {
        events: { seq: number; entry: string; event: { targets: { id: string }[]; metadata: Record<string, unknown> } }[];
      };
      expect(log.events).toHaveLength(1);
      expect(log.events[0]!.seq).toBe(answer.receipt.seq);
      expect(log.events[0]!.event.targets[0]!.id).toBe(answer.subject_hash);
      expect(log.events[0]!.event.metadata).toMatchObject({ subject_hash: answer.subject_hash, keys_destroyed: 1 });
      expect(log.events[0]!.entry).not.toContain(subject);

      // Reads and exports say erased, explicitly; the other subject still reads.
      const after = (await (await api(`/v1/tenants/${tenant}/events/${seq}`, { headers: read })).json()) as EntryJson;
      expect(after.entry).toBe(one.entry);
      expect(after.personal!.map((p) => [p.path, p.state, p.erased_by])).toEqual([
        ["actor.name", "erased", answer.receipt.seq],
        ["metadata.email", "erased", answer.receipt.seq],
        ["targets.0.name", "erased", answer.receipt.seq],
      ]);
      const answers = [
        JSON.stringify(after),
        await (await api(`/v1/tenants/${tenant}/events?limit=100`, { headers: read })).text(),
        await (await api(`/v1/tenants/${tenant}/export?format=csv`, { headers: read })).text(),
        await (await api(`/v1/tenants/${tenant}/export?format=jsonl`, { headers: read })).text(),
        await (await api(`/v1/tenants/${tenant}/export?format=jsonl&personal=decrypted`, { headers: read })).text(),
      ];
      for (const text of answers) {
        expect(text.includes(name)).toBe(false);
        expect(text.includes(email)).toBe(false);
      }
      expect(answers[2]).toContain('"[erased]"');
      expect(answers[1]).toContain(other);
      const afterStores = await rawStores(tenant);
      for (const secret of [name, email, other]) expect(afterStores.text.includes(secret), secret).toBe(false);
      // The subject's keys are gone from the object's table; no wrapped copy is left.
      const hash = answer.subject_hash;
      const keys = await runInDurableObject(logOf(tenant), (_o, state) =>
        state.storage.sql.exec("SELECT count(*) AS n FROM subject_keys WHERE subject_hash = ?", hash).one(),
      );
      expect(Number(keys.n)).toBe(0);

      // Proofs and a full verification still pass: the bytes never changed.
      const proof = await (await api(`/v1/tenants/${tenant}/events/${seq}/proof`, { headers: read })).text();
      const verifier = parseVerifierKey(await verifierKeyOf(tenant));
      if (!verifier.ok) throw new Error("verifier key");
      const checked = verifyTlogProof(proof, entryLeafHash(after.entry), verifier.value.name, [verifier.value]);
      expect(checked.ok && checked.value.index).toBe(seq);
      // What `sealtrail verify-proof --entry` compares: the API's `event` is the verified bytes' event (test/cli/erasure-proof.test.ts).
      const inner = JSON.parse(after.entry) as { event: JsonValue };
      expect(canonicalize(after.event as unknown as JsonValue)).toBe(canonicalize(inner.event));
      const job = await runVerification(tenant, verifyKey, { mode: "full" });
      expect(job.report).toMatchObject({ ok: true, failures: [] });
    },
  );

  it("a legal hold covering the subject refuses erasure (409 naming the hold); a hold on someone else does not", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    expect((await settings(owner, tenant, { personal_fields: ["actor.name"] })).status).toBe(200);
    expect((await postEvent(tenant, appendKey, event({ actor: { id: "held-1", type: "user", name: "Held Person" } }))).status).toBe(201);
    const hold = await runInDurableObject(logOf(tenant), (_o, state) => {
      const holds = new HoldStore(state.storage.sql, Date.now);
      const other = holds.create({ reason: "someone else", scope: { kind: "actor", id: "user-else" }, by: "test" });
      const mine = holds.create({ reason: "litigation 42", scope: { kind: "actor", id: "held-1" }, by: "test" });
      if (!other.ok || !mine.ok) throw new Error("hold");
      return mine.hold.id;
    });
    const res = await erase(owner, tenant, "held-1");
    expect(res.status).toBe(409);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("subject_held");
    expect(body.error.message).toContain(hold);
    expect(body.error.message).toContain("litigation 42");
    const entries = (await (
      await api(`/v1/tenants/${tenant}/events?action=sealtrail.subject.erased`, { headers: bearer(owner) })
    ).json()) as {
      events: unknown[];
    };
    expect(entries.events).toHaveLength(0);
    // Still readable: nothing was erased.
    const list = await (await api(`/v1/tenants/${tenant}/events?actor=held-1`, { headers: bearer(owner) })).text();
    expect(list).toContain("Held Person");
    // A tenant-wide hold covers everyone.
    await runInDurableObject(logOf(tenant), (_o, state) => {
      new HoldStore(state.storage.sql, Date.now).create({ reason: "all of it", scope: { kind: "tenant" }, by: "test" });
    });
    expect((await erase(owner, tenant, "nobody-held")).status).toBe(409);
  });

  it("the event's subject, when named, owns its fields; entries after an erasure get a new key and stay readable", async () => {
    const { owner, tenant, appendKey, readKey } = await tenantWithKeys();
    expect((await settings(owner, tenant, { personal_fields: ["metadata.patient"] })).status).toBe(200);
    const read = { "x-api-key": readKey };
    const post = async (patient: string) => {
      const res = await postEvent(tenant, appendKey, event({ subject: "patient-7", metadata: { patient } }));
      expect(res.status).toBe(201);
      return ((await res.json()) as { seq: number }).seq;
    };
    const old = await post("Old Name");
    // Erasing the actor does nothing to the patient's fields.
    expect(((await (await erase(owner, tenant, "user-1")).json()) as { keys_destroyed: number }).keys_destroyed).toBe(0);
    expect((await (await api(`/v1/tenants/${tenant}/events/${old}`, { headers: read })).text()).includes("Old Name")).toBe(true);
    expect((await erase(owner, tenant, "patient-7")).status).toBe(200);
    const fresh = await post("New Name");
    const view = async (seq: number) =>
      ((await (await api(`/v1/tenants/${tenant}/events/${seq}`, { headers: read })).json()) as EntryJson).personal;
    expect((await view(old))![0]!.state).toBe("erased");
    expect(await view(fresh)).toEqual([{ path: "metadata.patient", state: "decrypted", value: "New Name" }]);
    // The same view inside the object (what a log stream would send): plaintext, or the marker.
    const stored = async (seq: number) =>
      JSON.parse(((await (await api(`/v1/tenants/${tenant}/events/${seq}`, { headers: read })).json()) as EntryJson).entry) as {
        event: Record<string, unknown>;
      };
    const [oldEvent, freshEvent] = [(await stored(old)).event, (await stored(fresh)).event];
    const shown = await runInDurableObject(logOf(tenant), (_o, state) => {
      const personal = new PersonalFields(state.storage.sql, new LogStore(state.storage.sql), () => env.SEALTRAIL_SUBJECT_KEY_SECRET);
      return [personal.readerEvent(tenant, old, oldEvent as never), personal.readerEvent(tenant, fresh, freshEvent as never)];
    });
    expect(shown.map((e) => (e.metadata as Record<string, unknown>).patient)).toEqual(["[erased]", "New Name"]);
  });

  it("a ciphertext under another tenant, seq or path does not decrypt, and a tampered one is reported, not crashed on", async () => {
    const { owner, tenant, appendKey } = await tenantWithKeys();
    expect((await settings(owner, tenant, { personal_fields: ["actor.name"] })).status).toBe(200);
    const res = await postEvent(tenant, appendKey, event({ actor: { id: "u-aad", type: "user", name: "Secret Name" } }));
    const seq = ((await res.json()) as { seq: number }).seq;
    await mirrored(tenant);
    const stored = (await (await api(`/v1/tenants/${tenant}/events/${seq}`, { headers: bearer(owner) })).json()) as EntryJson;
    const value = stored.event.actor.name!;
    const parsed = parseEncryptedField(value)!;
    expect(fieldAad(tenant, seq, ["actor", "name"], parsed.kid)).toEqual(
      new TextEncoder().encode(`{"kid":"${parsed.kid}","path":["actor","name"],"seq":${seq},"tenant":"${tenant}","v":1}`),
    );
    const reveal = (fields: { seq: number; path: (string | number)[]; value: string }[], as = tenant) =>
      runInDurableObject(logOf(tenant), (_o, state) => {
        const personal = new PersonalFields(state.storage.sql, new LogStore(state.storage.sql), () => env.SEALTRAIL_SUBJECT_KEY_SECRET);
        return personal.reveal(as, fields);
      });
    const flipped = value.slice(0, -6) + (value.at(-6) === "A" ? "B" : "A") + value.slice(-5);
    const answers = await reveal([
      { seq, path: ["actor", "name"], value },
      { seq: seq + 1, path: ["actor", "name"], value },
      { seq, path: ["metadata", "name"], value },
      { seq, path: ["actor", "name"], value: flipped },
    ]);
    expect(answers).toEqual([
      { state: "decrypted", json: '"Secret Name"' },
      { state: "undecryptable" },
      { state: "undecryptable" },
      { state: "undecryptable" },
    ]);
    // Another tenant's id in the associated data (and wrapping key): refused too.
    expect(await reveal([{ seq, path: ["actor", "name"], value }], `${tenant}x`)).toEqual([{ state: "undecryptable" }]);
  });
});
