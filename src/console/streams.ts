/**
 * Log streams (README "Log streams"): the tenant's destinations with their lag, pause and last
 * error; a form per destination type; pause, resume, delete. Secrets are typed here once and never
 * shown again (the server returns none); a new webhook's signing secret is shown once.
 */
import { json, tenantPath } from "./api";
import { h, show } from "./dom";
import { go, tenantHash, type TenantContext } from "./route";
import { ago, banner, copyable, errorBanner, field, onSubmit, str } from "./ui";
import type { CreatedStream, StreamList, StreamView } from "./wire";

/** The signing secret of the webhook just created, shown by the next render only. */
let justCreated: { tenant: string; id: string; secret: string } | null = null;

const TYPES = ["webhook", "splunk", "datadog", "s3"] as const;
type DestType = (typeof TYPES)[number];

const input = (name: string, attrs: Record<string, string | boolean | number> = {}) => h("input", { name, ...attrs });

/** The fields of one destination type (shown when that type is chosen). */
function destinationFields(type: DestType): HTMLElement {
  const fields: Record<DestType, HTMLElement[]> = {
    webhook: [
      field(
        "URL",
        input("url", { required: true, placeholder: "https://hooks.example.com/sealtrail" }),
        "Signed per Standard Webhooks; the secret is shown once.",
      ),
    ],
    splunk: [
      field("HEC URL", input("url", { required: true, placeholder: "https://splunk.example.com:8088" })),
      field("HEC token", input("token", { required: true, type: "password", autocomplete: "off" })),
      field("Index (optional)", input("index")),
    ],
    datadog: [
      field("Intake URL", input("url", { required: true, value: "https://http-intake.logs.datadoghq.com" })),
      field("API key", input("api_key", { required: true, type: "password", autocomplete: "off" })),
      field("Service (optional)", input("service")),
    ],
    s3: [
      field("Endpoint", input("endpoint", { required: true, placeholder: "https://<account>.r2.cloudflarestorage.com" })),
      field("Bucket", input("bucket", { required: true })),
      field("Region", input("region", { value: "auto" })),
      field("Key prefix (optional)", input("prefix", { placeholder: "sealtrail/<tenant>/" })),
      field("Access key id", input("access_key_id", { required: true, autocomplete: "off" })),
      field("Secret access key", input("secret_access_key", { required: true, type: "password", autocomplete: "off" })),
    ],
  };
  return h("div", { "data-testid": `fields-${type}` }, fields[type]);
}

function destinationOf(type: DestType, d: FormData): Record<string, string> {
  const keep = (...names: string[]) => Object.fromEntries(names.map((n) => [n, str(d, n)] as const).filter(([, v]) => v !== ""));
  if (type === "webhook") return { type, ...keep("url") };
  if (type === "splunk") return { type, ...keep("url", "token", "index") };
  if (type === "datadog") return { type, ...keep("url", "api_key", "service") };
  return { type, ...keep("endpoint", "bucket", "region", "prefix", "access_key_id", "secret_access_key") };
}

const where = (s: StreamView) => String(s.destination.url ?? `${String(s.destination.endpoint)}/${String(s.destination.bucket)}`);

export async function streamsPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const status = h("div");
  let rows: StreamView[];
  try {
    rows = (await json<StreamList>(tenantPath(t, "/streams"))).streams;
  } catch (e) {
    return h("section", null, h("h1", null, "Streams"), errorBanner(e));
  }
  const fresh = justCreated?.tenant === t ? justCreated : null;
  justCreated = null;
  const act = (s: StreamView, what: "pause" | "resume" | "delete") => async () => {
    if (what === "delete" && !confirm(`Delete the stream “${s.name}”? Its destination receives nothing more.`)) return;
    try {
      await json(tenantPath(t, `/streams/${s.id}${what === "delete" ? "" : `/${what}`}`), {
        method: what === "delete" ? "DELETE" : "POST",
      });
      go(tenantHash(t, "/streams"));
    } catch (e) {
      status.replaceChildren(errorBanner(e));
    }
  };
  const typeSelect = h(
    "select",
    { name: "type", "aria-label": "Destination type" },
    TYPES.map((ty) => h("option", { value: ty }, ty)),
  );
  const fieldsBox = h("div", null, destinationFields("webhook"));
  typeSelect.addEventListener("change", () => fieldsBox.replaceChildren(destinationFields(typeSelect.value as DestType)));
  const form = h(
    "form",
    { class: "panel", "data-testid": "create-stream" },
    h("h2", null, "New stream"),
    field("Name", input("name", { maxlength: 64, placeholder: "siem" })),
    field("Destination", typeSelect),
    fieldsBox,
    field(
      "Format",
      h(
        "select",
        { name: "format" },
        ["native", "cloudevents", "ocsf"].map((f) => h("option", { value: f }, f)),
      ),
      "native: the stored entry bytes with seq and leaf hash; CloudEvents 1.0; OCSF.",
    ),
    field(
      "Actions (optional)",
      input("actions", { placeholder: "sealtrail.alert." }),
      "Action prefixes, comma separated: only these are sent (sealtrail.alert. makes an alert destination).",
    ),
    h("button", { type: "submit" }, "Create stream"),
  );
  onSubmit(form, status, async (d) => {
    const type = str(d, "type") as DestType;
    const actions = str(d, "actions")
      .split(",")
      .map((a) => a.trim())
      .filter(Boolean);
    const body = {
      ...(str(d, "name") ? { name: str(d, "name") } : {}),
      destination: destinationOf(type, d),
      format: str(d, "format") || "native",
      actions,
    };
    const created = await json<CreatedStream>(tenantPath(t, "/streams"), { body });
    if (created.secret) justCreated = { tenant: t, id: created.stream.id, secret: created.secret };
    go(tenantHash(t, "/streams"));
  });
  return h(
    "section",
    null,
    h("h1", null, "Streams"),
    h(
      "p",
      { class: "muted" },
      "Streams push this log, in order and at least once, to a webhook, Splunk, Datadog or an S3-compatible bucket. Creating, changing, pausing, resuming and deleting one is recorded in the log.",
    ),
    fresh
      ? banner(
          "ok",
          h(
            "div",
            { "data-testid": "stream-secret" },
            "Signing secret (shown once; verify webhook-signature with it): ",
            copyable(fresh.secret),
          ),
        )
      : null,
    status,
    rows.length === 0
      ? banner("info", "No streams yet.")
      : h(
          "table",
          { "data-testid": "streams-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Name", "Destination", "Format", "Delivered", "Lag", "State", ""].map((c) => h("th", null, c)),
            ),
          ),
          h(
            "tbody",
            null,
            rows.map((s) =>
              h(
                "tr",
                { "data-stream": s.id },
                h(
                  "td",
                  null,
                  show(s.name),
                  s.actions.length > 0 ? h("div", null, h("small", null, "only ", show(s.actions.join(", ")))) : null,
                ),
                h("td", null, String(s.destination.type), " ", h("code", null, show(where(s)))),
                h("td", null, s.format),
                h("td", { class: "nowrap" }, String(s.delivered), h("div", null, h("small", null, ago(s.last_delivered_at, ctx.now)))),
                h("td", { class: "nowrap", "data-testid": "stream-lag" }, `${s.lag_entries} entries, ${s.lag_seconds} s`),
                h(
                  "td",
                  { "data-testid": "stream-state" },
                  s.paused ? banner("warn", "Paused") : s.failures > 0 ? banner("warn", `Retrying (${s.failures} failures)`) : "Active",
                  s.last_error ? h("div", null, h("small", null, "Last error: ", show(s.last_error))) : null,
                ),
                h(
                  "td",
                  null,
                  s.paused
                    ? h("button", { type: "button", class: "small", onclick: act(s, "resume") }, "Resume")
                    : h("button", { type: "button", class: "secondary small", onclick: act(s, "pause") }, "Pause"),
                  " ",
                  h("button", { type: "button", class: "danger small", onclick: act(s, "delete") }, "Delete"),
                ),
              ),
            ),
          ),
        ),
    form,
  );
}
