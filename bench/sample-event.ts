/**
 * The ~800-byte audit event and provenance the core benches encode (bench/core.bench.ts in the
 * vitest pool, bench/workerd/core-worker.ts for `npm run bench`), so both measure the same entry.
 */
/** An event of about 800 bytes as an entry, like a typical audit record. */
export const sampleEvent = (i: number) => ({
  action: "document.permission.changed",
  actor: { id: `user_${i}`, type: "user", name: "Ada Lovelace" },
  targets: [
    { id: `doc_${i}`, type: "document", name: "Quarterly report" },
    { id: "grp_42", type: "group", name: "Finance" },
  ],
  outcome: "success",
  occurred_at: "2026-11-26T06:00:00.000Z",
  context: { request_id: `req_${i}`, session_id: "sess_0123456789abcdef", ip_hint: "203.0.113.7" },
  metadata: { from: "viewer", to: "editor", reason: "Quarter close needs edit access for the finance team", ticket: "FIN-1234" },
});
export const provenance = {
  principal_type: "api_key",
  principal_id: "GaSRSxpg7kwSmGQwd8pJGRAfwPaqLI7a",
  key_id: "GaSRSxpg7kwSmGQwd8pJGRAfwPaqLI7a",
  ip: "203.0.113.7",
  user_agent: "sealtrail-sdk/0.1 (+node)",
  request_id: "8875a393-25e6-49bc-a436-0d07c7dcf7f1",
};

/**
 * A JSON Schema the sample event's metadata matches (issue #19.3's rows): typical declared
 * constraints (required fields, enums, lengths, a pattern, no other fields).
 */
export const SAMPLE_SCHEMA = {
  type: "object",
  required: ["from", "to", "reason"],
  additionalProperties: false,
  properties: {
    from: { enum: ["viewer", "commenter", "editor", "owner"] },
    to: { enum: ["viewer", "commenter", "editor", "owner"] },
    reason: { type: "string", minLength: 1, maxLength: 500 },
    ticket: { type: "string", pattern: "^[A-Z]+-[0-9]+$" },
  },
};
