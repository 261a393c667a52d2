/**
 * Personal data (issue #17.3): which fields the tenant stores encrypted per person, and the
 * erasure of a person (crypto-shredding: their keys destroyed, every proof still valid). Both
 * changes are entries in the log; erasure needs `admin` and is refused under a covering legal hold.
 */
import { json, tenantPath } from "./api";
import { h, show } from "./dom";
import { tenantHash, type TenantContext } from "./route";
import { banner, field, onSubmit, str } from "./ui";
import type { PersonalSettings, SettingsChanged, SubjectErased } from "./wire";

export async function personalDataPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const s = await json<PersonalSettings>(tenantPath(t, "/settings"));
  const entryLink = (seq: number) => h("a", { href: tenantHash(t, `/events/${seq}`) }, `entry ${seq}`);

  const fieldsStatus = h("div", { "data-testid": "personal-fields-status" });
  const fieldsForm = h(
    "form",
    { class: "panel" },
    field(
      "Personal fields (one path a line)",
      h("textarea", { name: "personal_fields", rows: 5, spellcheck: false }, s.personal_fields.join("\n")),
      "actor.name, targets[].name, context.<key>, metadata.<key>[.<key>…]. Stored encrypted per person (the event's subject, else actor.id) from now on.",
    ),
    h("button", { type: "submit" }, "Save personal fields"),
    fieldsStatus,
  );
  onSubmit(fieldsForm, fieldsStatus, async (d) => {
    const paths = str(d, "personal_fields")
      .split("\n")
      .map((p) => p.trim())
      .filter((p) => p !== "");
    const { receipt } = await json<SettingsChanged>(tenantPath(t, "/settings"), { method: "PUT", body: { personal_fields: paths } });
    s.personal_fields = paths;
    fieldsStatus.replaceChildren(
      receipt
        ? banner("ok", "Saved. The change is recorded in the log as ", entryLink(receipt.seq), ".")
        : banner("ok", "Saved. The change is recorded in the log."),
    );
  });

  const eraseStatus = h("div", { "data-testid": "erase-status" });
  const eraseForm = h(
    "form",
    { class: "panel" },
    field(
      "Subject",
      h("input", { name: "subject", required: true, maxlength: 256, autocomplete: "off" }),
      "The person's id: actor.id, or the event's subject.",
    ),
    h("button", { type: "submit", class: "danger" }, "Erase this subject's personal data"),
    eraseStatus,
  );
  onSubmit(eraseForm, eraseStatus, async (d) => {
    const subject = str(d, "subject");
    if (!confirm(`Erase the personal data of ${subject}? Their keys are destroyed: this cannot be undone.`)) return;
    const r = await json<SubjectErased>(tenantPath(t, `/subjects/${encodeURIComponent(subject)}/erase`), { method: "POST" });
    eraseStatus.replaceChildren(
      banner(
        "ok",
        `Erased: ${r.keys_destroyed} key${r.keys_destroyed === 1 ? "" : "s"} destroyed; recorded as `,
        entryLink(r.receipt.seq),
        " (subject hash ",
        h("code", null, show(r.subject_hash)),
        "). Its fields now read [erased]; every proof still verifies.",
      ),
    );
  });

  return h(
    "section",
    null,
    h("h1", null, "Personal data"),
    h(
      "p",
      { class: "muted" },
      "Declared fields are encrypted with a key per person before entries are hashed, so stores, snapshots and proofs hold only ciphertext; ",
      "readers see the plaintext. Erasing a person destroys their keys: their fields read as erased everywhere, and every proof stays valid. ",
      "A legal hold covering the person refuses erasure.",
    ),
    fieldsForm,
    h("h2", null, "Erase a subject (GDPR Art. 17)"),
    eraseForm,
  );
}
