/**
 * Sources (README "Missed events: gaps and silence"): each numbered source, its last number and
 * when it was last seen, its open gaps as exact missing ranges, its cadence and whether it is
 * silent; a form declares a cadence (PUT …/sources/:id, logged).
 */
import { json, tenantPath } from "./api";
import { h, show } from "./dom";
import { tenantHash, type TenantContext } from "./route";
import { ago, banner, card, field, onSubmit, str } from "./ui";
import type { SourceChanged, SourceList, SourceRow } from "./wire";

/** Missing ranges as people read them: "3–4, 7" (inclusive; pure, for tests). */
export const rangesText = (gaps: readonly { from: number; to: number }[]): string =>
  gaps.map((g) => (g.from === g.to ? String(g.from) : `${g.from}–${g.to}`)).join(", ");

/** A cadence in seconds as people read it: "90 s", "10 min", "2 h", "1 d". */
export function cadenceText(s: number | null): string {
  if (s === null) return "none";
  if (s % 86_400 === 0) return `${s / 86_400} d`;
  if (s % 3_600 === 0) return `${s / 3_600} h`;
  if (s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

/** What the row says about a source: silent, missing numbers, restarts (pure, for tests). */
export function sourceStatus(s: SourceRow): { tone: "ok" | "warn" | "bad"; text: string } {
  const parts: string[] = [];
  if (s.silent) parts.push(`silent (no event for over ${cadenceText(s.expected_every_seconds)})`);
  if (s.missing > 0) parts.push(`${s.missing} missing`);
  if (s.forgotten.gaps > 0) parts.push(`${s.forgotten.missing} more missing, no longer tracked`);
  if (s.restarts > 0) parts.push(`${s.restarts} restart(s)`);
  if (s.duplicates > 0) parts.push(`${s.duplicates} duplicate(s)`);
  const tone = s.silent || s.missing > 0 || s.forgotten.gaps > 0 ? "bad" : s.restarts + s.duplicates > 0 ? "warn" : "ok";
  return { tone, text: parts.length === 0 ? "complete" : parts.join(" · ") };
}

export async function sourcesPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const after = ctx.route.params.get("after");
  const list = await json<SourceList>(tenantPath(t, `/sources?limit=100${after ? `&after=${encodeURIComponent(after)}` : ""}`));
  const rows = list.sources;
  const status = h("div", { "data-testid": "cadence-status" });
  const form = h(
    "form",
    { class: "panel", "aria-label": "Declare a cadence" },
    field("Source", h("input", { name: "source", required: true, maxlength: 256 }), "The source id its events carry (source.id)."),
    field(
      "Expected every (seconds)",
      h("input", { name: "every", type: "number", min: 1, max: 2_592_000 }),
      "At least one event this often, or the source is silent (an alert). Empty removes the cadence.",
    ),
    h("button", { type: "submit" }, "Save cadence"),
    status,
  );
  onSubmit(form, status, async (d) => {
    const id = str(d, "source");
    const every = str(d, "every");
    const { receipt } = await json<SourceChanged>(tenantPath(t, `/sources/${encodeURIComponent(id)}`), {
      method: "PUT",
      body: { expected_every_seconds: every === "" ? null : Number(every) },
    });
    status.replaceChildren(
      banner(
        "ok",
        "Saved. The change is recorded in the log as ",
        h("a", { href: tenantHash(t, `/events/${receipt.seq}`) }, `entry ${receipt.seq}`),
        ".",
      ),
    );
  });
  const silent = rows.filter((s) => s.silent).length;
  const gapped = rows.filter((s) => s.gaps.length > 0).length;
  return h(
    "section",
    null,
    h("h1", null, "Sources"),
    h(
      "p",
      { class: "muted" },
      "Events that carry source: {id, seq} are numbered by their source (the SDK does it). A number that never arrives is an event that was produced and lost: it shows here as a gap, with the exact missing range, until a late event fills it.",
    ),
    h(
      "div",
      { class: "cards" },
      card("Sources", String(rows.length), list.next ? "more on the next page" : "tracked"),
      card(
        "Silent",
        h("span", { class: silent > 0 ? "badtext" : "", "data-testid": "sources-silent" }, String(silent)),
        "past their cadence",
      ),
      card(
        "With gaps",
        h("span", { class: gapped > 0 ? "badtext" : "", "data-testid": "sources-gapped" }, String(gapped)),
        "numbers missing",
      ),
    ),
    rows.length === 0
      ? banner("info", "No numbered source yet. Send events with source: {id, seq}, or configure the SDK with a source.")
      : h(
          "table",
          { "data-testid": "sources-table" },
          h(
            "thead",
            null,
            h(
              "tr",
              null,
              ["Source", "Last number", "Last seen", "Cadence", "Missing numbers", "Status"].map((c) => h("th", null, c)),
            ),
          ),
          h(
            "tbody",
            null,
            rows.map((s) => {
              const st = sourceStatus(s);
              return h(
                "tr",
                { "data-source": s.id },
                h("td", null, h("code", null, show(s.id))),
                h("td", null, s.last_seq === null ? "—" : String(s.last_seq)),
                h("td", { class: "nowrap" }, ago(s.last_seen_at, ctx.now)),
                h("td", null, cadenceText(s.expected_every_seconds)),
                h("td", { "data-testid": "gaps" }, s.gaps.length === 0 ? "none" : rangesText(s.gaps)),
                h("td", { class: st.tone === "bad" ? "badtext" : st.tone === "ok" ? "good" : "", "data-testid": "source-status" }, st.text),
              );
            }),
          ),
        ),
    list.next ? h("p", null, h("a", { href: tenantHash(t, `/sources?after=${encodeURIComponent(list.next)}`) }, "Next page")) : null,
    h("h2", null, "Declare a cadence"),
    form,
  );
}
