import { describe, expect, it } from "vitest";
import { csvCell } from "../../src/worker/csv";
import { CSV_COLUMNS } from "../../src/worker/routes/export";
import { api, event, postEvent, tenantWithKeys, mirroredDbOf } from "./helpers";

describe("CSV cells", () => {
  it("guard formula prefixes and make every control and bidi character visible", () => {
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    for (const p of ["+1", "-2", "@SUM(A1)", "\tx", "\rx"]) expect(csvCell(p).startsWith(`"'`)).toBe(true);
    expect(csvCell("a\r\nb")).toBe('"a\\u000d\\u000ab"');
    expect(csvCell("\u0000\u001b[31m\u007f\u0085")).toBe('"\\u0000\\u001b[31m\\u007f\\u0085"');
    expect(csvCell("abc\u202egnp.exe")).toBe('"abc\\u202egnp.exe"');
    expect(csvCell('plain, with "quotes"')).toBe('"plain, with ""quotes"""');
    expect(csvCell(12)).toBe('"12"');
  });
});

describe("export", () => {
  it("streams 10,000 entries as JSONL equal to D1's bytes and as CSV, hostile content escaped; the export is logged", async () => {
    // The events take seq base..base+9999 (the keys' creation comes first).
    const { tenant, appendKey, readKey, base } = await tenantWithKeys();
    const hostile = [
      "=cmd|' /C calc'!A0",
      "+SUM(1)",
      "-1",
      "@me",
      "\tTab",
      "\rCR",
      "line\nbreak",
      "nul\u0000",
      "\u001b[31mred",
      "bidi\u202eevil",
    ];
    for (let at = 0; at < 10_000; at += 100) {
      const res = await postEvent(tenant, appendKey, {
        events: Array.from({ length: 100 }, (_, i) =>
          event({ actor: { id: `u${at + i}`, type: "user", name: hostile[(at + i) % hostile.length] }, metadata: { i: at + i } }),
        ),
      });
      expect(res.status).toBe(201);
    }
    const get = (q: string) => api(`/v1/tenants/${tenant}/export?${q}`, { headers: { "x-api-key": readKey } });

    const range = `from_seq=${base}&to_seq=${base + 10_000}`;
    const jsonl = await get(`format=jsonl&${range}`);
    expect(jsonl.status).toBe(200);
    expect(jsonl.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
    const lines = (await jsonl.text()).split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(10_000);
    const { results } = await (await mirroredDbOf(tenant))
      .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? AND seq >= ? AND seq < ? ORDER BY seq")
      .bind(tenant, base, base + 10_000)
      .all<{ entry: string }>();
    expect(lines).toEqual(results.map((r) => r.entry));

    const csv = await (await get(`format=csv&${range}`)).text();
    const rows = csv.split("\r\n");
    expect(rows.pop()).toBe("");
    expect(rows).toHaveLength(10_001);
    expect(rows[0]).toBe(CSV_COLUMNS.map((c) => `"${c}"`).join(","));
    // Each record is one line; no cell starts a formula; no raw control characters.
    for (const row of rows) {
      expect(row).not.toMatch(/[\u0000-\u001f\u007f\u202e]/);
      for (const cell of row.slice(1, -1).split('","')) expect(cell).not.toMatch(/^[=+\-@]/);
    }
    expect(rows[1]).toContain(`"'=cmd|' /C calc'!A0"`);
    expect(rows[7]).toContain('"line\\u000abreak"');

    const filtered = (await (await get("format=jsonl&actor=u42")).text()).trim().split("\n");
    expect(filtered.map((l) => (JSON.parse(l) as { seq: number }).seq)).toEqual([base + 42]);

    // Each export is an entry in the log (the two full exports, then the filtered one).
    const { results: logged } = await (await mirroredDbOf(tenant))
      .prepare("SELECT entry FROM audit_events WHERE tenant_id = ? AND seq >= ? ORDER BY seq")
      .bind(tenant, base + 10_000)
      .all<{ entry: string }>();
    expect(logged.map((r) => (JSON.parse(r.entry) as { event: { action: string; metadata: { format: string } } }).event)).toMatchObject([
      { action: "sealtrail.events.exported", metadata: { format: "jsonl" } },
      { action: "sealtrail.events.exported", metadata: { format: "csv" } },
      { action: "sealtrail.events.exported", metadata: { format: "jsonl", query: { actor: "u42" } } },
    ]);
    expect((await get("format=xml")).status).toBe(400);
    expect((await api(`/v1/tenants/${tenant}/export`, { headers: { "x-api-key": appendKey } })).status).toBe(403);
  });
});
