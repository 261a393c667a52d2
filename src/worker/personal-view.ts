/**
 * What readers see of personal fields (docs/design.md "Personal fields and erasure"): the stored
 * entry bytes (and `event`, parsed from them) keep the encrypted-field form, so proofs and
 * `sealtrail verify-proof --entry` keep checking exactly what was hashed; beside them, `personal`
 * lists each encrypted field with its plaintext, decrypted by the tenant's log on the way out,
 * or says it was erased (the subject's key destroyed) or does not authenticate. One call to the
 * Durable Object per page, and none for pages without encrypted fields.
 */
import type { Context } from "hono";
import type { JsonObject } from "../core/entry";
import type { JsonValue } from "../core/jcs";
import {
  ENCRYPTED_FIELD_PREFIX,
  ERASED_MARKER,
  encryptedFields,
  replaceAt,
  showPath,
  UNDECRYPTABLE_MARKER,
  valueAt,
  type FieldPath,
} from "../core/personal-fields";
import type { RevealedField, RevealRequest } from "../durable/personal-fields";
import type { AppEnv } from "./app-env";
import { tenantLog } from "./tenant-log";

/** One encrypted field as a reader sees it. */
export type PersonalField =
  | { path: string; state: "decrypted"; value: JsonValue }
  | { path: string; state: "erased"; erased_at: string; erased_by: number }
  | { path: string; state: "undecryptable" };

/** Shown in CSV cells in place of an erased value, and of one that does not authenticate (the API's `personal` says which). */
export { ERASED_MARKER, UNDECRYPTABLE_MARKER };

interface Row {
  seq: number;
  entry: string;
}

/** For each row, its encrypted fields as the reader sees them, or undefined when it has none. */
export async function personalViews(c: Context<AppEnv>, rows: readonly Row[]): Promise<(PersonalField[] | undefined)[]> {
  const found = rows.map((r) => {
    if (!r.entry.includes(ENCRYPTED_FIELD_PREFIX)) return [];
    const event = (JSON.parse(r.entry) as { event?: JsonValue }).event;
    return event === undefined ? [] : encryptedFields(event).map((f) => ({ path: f.path }));
  });
  const requests: RevealRequest[] = [];
  for (const [i, fields] of found.entries()) {
    const event = fields.length > 0 ? (JSON.parse(rows[i]!.entry) as { event: JsonValue }).event : undefined;
    for (const f of fields) requests.push({ seq: rows[i]!.seq, path: f.path, value: String(valueAt(event!, f.path)) });
  }
  if (requests.length === 0) return rows.map(() => undefined);
  const revealed = await tenantLog(c).revealPersonal(c.var.access.tenantId, requests);
  let next = 0;
  return found.map((fields) => {
    const out: PersonalField[] = [];
    for (const f of fields) {
      const shown = toField(f.path, revealed[next++]!);
      if (shown) out.push(shown);
    }
    return out.length > 0 ? out : undefined;
  });
}

/** A field in the encrypted-field form under a key this log never made is a plain string: not listed. */
function toField(path: FieldPath, r: RevealedField): PersonalField | undefined {
  const p = showPath(path);
  switch (r.state) {
    case "decrypted":
      return { path: p, state: "decrypted", value: JSON.parse(r.json) as JsonValue };
    case "erased":
      return { path: p, state: "erased", erased_at: r.erased_at, erased_by: r.erased_by };
    case "undecryptable":
      return { path: p, state: "undecryptable" };
    case "foreign":
      return undefined;
  }
}

/**
 * The event with its encrypted fields replaced by what a reader sees: the plaintext, or
 * ERASED_MARKER / UNDECRYPTABLE_MARKER (CSV). Not the stored bytes: nothing to verify.
 */
export function decryptedEvent(event: JsonObject, personal: readonly PersonalField[] | undefined): JsonObject {
  if (!personal) return event;
  const pathOf = (p: string): FieldPath => p.split(".").map((s) => (/^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : s));
  return replaceAt(
    event,
    personal.map((f) => ({
      path: pathOf(f.path),
      value: f.state === "decrypted" ? f.value : f.state === "erased" ? ERASED_MARKER : UNDECRYPTABLE_MARKER,
    })),
  );
}
