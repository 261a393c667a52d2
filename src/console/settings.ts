/** Tenant settings: seal interval, retention, clock-skew bound, public log, audit schedule. Each change is logged. Legal holds have their own page. */
import { json, tenantPath } from "./api";
import { h } from "./dom";
import { tenantHash, type TenantContext } from "./route";
import { banner, field, onSubmit } from "./ui";
import type { Settings, SettingsChanged } from "./wire";

export async function settingsPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const s = await json<Settings>(tenantPath(t, "/settings"));
  const status = h("div", { "data-testid": "settings-status" });
  const num = (name: keyof Settings, min: number, max: number) =>
    h("input", { name, type: "number", min, max, required: true, value: String(s[name]) });
  const form = h(
    "form",
    { class: "panel" },
    field("Seal interval (seconds)", num("seal_interval_seconds", 10, 86400), "How often new entries are sealed into a signed snapshot."),
    field(
      "Retention (days)",
      num("retention_days", 1, 36_500),
      "Entries older than this are pruned (whole sealed bundles; proofs stay valid).",
    ),
    h(
      "p",
      { class: "muted", "data-testid": "legal-hold" },
      s.legal_hold ? "A legal hold is active: the retention period cannot be lowered until it is released. " : "No legal hold is active. ",
      h("a", { href: tenantHash(t, "/holds") }, "Legal holds"),
    ),
    field(
      "Maximum clock skew (seconds)",
      num("max_clock_skew_seconds", 1, 86400),
      "Events whose occurred_at is further than this from their receipt are flagged.",
    ),
    field(
      "Longest elevation (seconds)",
      num("max_elevation_seconds", 60, 604800),
      "The longest just-in-time elevation a member may ask for (Access page).",
    ),
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", name: "public_log", checked: s.public_log }),
      " Public log: anyone may read the signed checkpoint and hash tiles (c2sp.org/tlog-tiles, /logs/<tenant>/); entries stay private",
    ),
    field(
      "Scheduled verification (hours)",
      num("audit_interval_hours", 1, 720),
      "An incremental verification runs this often, with nobody asking; a failed or missing one raises an alert.",
    ),
    field("Full verification (days)", num("full_audit_interval_days", 1, 365), "A full verification of the whole log runs this often."),
    h("button", { type: "submit" }, "Save settings"),
    status,
  );
  onSubmit(form, status, async (d) => {
    const next: Settings = {
      seal_interval_seconds: Number(d.get("seal_interval_seconds")),
      retention_days: Number(d.get("retention_days")),
      // Not a setting: holds are created and released on their own page.
      legal_hold: s.legal_hold,
      max_clock_skew_seconds: Number(d.get("max_clock_skew_seconds")),
      // Witnesses are set through the API (PUT /settings): unchanged here.
      witnesses: s.witnesses,
      witness_quorum: s.witness_quorum,
      public_log: d.get("public_log") !== null,
      audit_interval_hours: Number(d.get("audit_interval_hours")),
      full_audit_interval_days: Number(d.get("full_audit_interval_days")),
      max_elevation_seconds: Number(d.get("max_elevation_seconds")),
    };
    const patch = Object.fromEntries(Object.entries(next).filter(([k, v]) => s[k as keyof Settings] !== v));
    if (Object.keys(patch).length === 0) {
      status.replaceChildren(banner("info", "Nothing changed."));
      return;
    }
    const { receipt } = await json<SettingsChanged>(tenantPath(t, "/settings"), { method: "PUT", body: patch });
    Object.assign(s, next);
    status.replaceChildren(
      receipt
        ? banner(
            "ok",
            "Saved. The change is recorded in the log as ",
            h("a", { href: tenantHash(t, `/events/${receipt.seq}`) }, `entry ${receipt.seq}`),
            ".",
          )
        : banner("ok", "Saved. The change is recorded in the log."),
    );
  });
  return h(
    "section",
    null,
    h("h1", null, "Settings"),
    form,
    h(
      "p",
      { class: "muted", "data-testid": "witnesses" },
      s.witnesses === null
        ? "Witnesses: the deployment's default (SEALTRAIL_WITNESSES)."
        : `Witnesses: ${s.witnesses.length === 0 ? "none" : s.witnesses.map((w) => w.url).join(", ")}.`,
      ` Quorum: ${s.witness_quorum ?? "default (1 when there is a witness)"}. Change them with PUT /v1/tenants/${t}/settings ({"witnesses": [{"url", "key"}], "witness_quorum": k}); each change is logged.`,
    ),
    h(
      "p",
      { class: "muted" },
      "Allowed browser origins belong to each publishable key: change them on the ",
      h("a", { href: tenantHash(t, "/keys") }, "Keys"),
      " page (changes are logged too).",
    ),
  );
}
