/**
 * The event browser: the read path's filters, cursor paging, and one entry with its stored
 * bytes, checked in this browser against the pinned key. Everything from the log is shown
 * with `show`/`inert` (dom.ts): HTML stays text, control and direction characters are escaped.
 */
import { ApiError, json, query, tenantPath } from "./api";
import { h, inert, show } from "./dom";
import { go, tenantHash, type TenantContext } from "./route";
import { checkCheckpoint, checkEntry, describeFailure, pinState } from "./trust";
import { banner, errorBanner, field } from "./ui";
import { personalSection, personalText } from "./personal";
import type { EntryView, EventPage } from "./wire";

const FILTERS = ["q", "action", "actor", "actor_type", "target", "target_type", "outcome", "since", "until", "from_seq", "to_seq"] as const;

/** datetime-local inputs hold local time without a zone; the API takes RFC 3339. */
const toIso = (local: string) => (local ? new Date(local).toISOString() : "");
const toLocal = (iso: string | null) => {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
};

function filterForm(ctx: TenantContext): HTMLFormElement {
  const p = ctx.route.params;
  const input = (name: string, placeholder: string) => h("input", { name, value: p.get(name) ?? "", placeholder });
  const outcome = h(
    "select",
    { name: "outcome" },
    h("option", { value: "" }, "any"),
    ["success", "failure", "denied", "unknown"].map((o) => h("option", { value: o, selected: p.get("outcome") === o }, o)),
  );
  const form = h(
    "form",
    { class: "filters", "data-testid": "event-filters" },
    // Full-text search (issue #19.4): plain words, all required, in names, the action and metadata values.
    field(
      "Search text",
      h("input", {
        name: "q",
        type: "search",
        value: p.get("q") ?? "",
        placeholder: "words in names, action, metadata",
        "data-testid": "event-search",
      }),
    ),
    field("Action", input("action", "user.login or user.*")),
    field("Actor id", input("actor", "user-42")),
    field("Actor type", input("actor_type", "user")),
    field("Target id", input("target", "doc-7")),
    field("Target type", input("target_type", "document")),
    field("Outcome", outcome),
    field("Since", h("input", { name: "since", type: "datetime-local", value: toLocal(p.get("since")) })),
    field("Until (exclusive)", h("input", { name: "until", type: "datetime-local", value: toLocal(p.get("until")) })),
    field("From seq", h("input", { name: "from_seq", type: "number", min: 0, value: p.get("from_seq") ?? "" })),
    field("To seq (exclusive)", h("input", { name: "to_seq", type: "number", min: 0, value: p.get("to_seq") ?? "" })),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit" }, "Search"),
      h("a", { href: tenantHash(ctx.tenant.id, "/events"), class: "button secondary" }, "Clear"),
    ),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const d = new FormData(form);
    const q: Record<string, string> = {};
    for (const f of FILTERS) {
      const v = String(d.get(f) ?? "").trim();
      q[f] = f === "since" || f === "until" ? toIso(v) : v;
    }
    go(tenantHash(ctx.tenant.id, `/events${query(q)}`));
  });
  return form;
}

export async function eventsPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  if (ctx.route.parts[0] !== undefined) return entryPage(ctx, ctx.route.parts[0]);
  const filter: Record<string, string> = {};
  for (const f of FILTERS) {
    const v = ctx.route.params.get(f);
    if (v) filter[f] = v;
  }
  const cursor = ctx.route.params.get("cursor") ?? undefined;
  const exportLink = (format: string) => tenantPath(t, `/export${query({ ...filter, format })}`);
  let list: Node;
  try {
    const page = await json<EventPage>(tenantPath(t, `/events${query({ ...filter, cursor, limit: 50 })}`));
    const pageLink = (c: string | null, label: string) =>
      c
        ? h("a", { class: "button secondary", href: tenantHash(t, `/events${query({ ...filter, cursor: c })}`) }, label)
        : h("span", { class: "button secondary disabled" }, label);
    // Issue #17.4: pruned entries are said to be pruned, never shown as missing.
    const pruned = page.pruned
      ? h(
          "p",
          { class: "muted", "data-testid": "pruned-notice" },
          `Entries 0 to ${page.pruned.below - 1} were pruned by the retention sweep` +
            (page.pruned.recorded_by === null ? "" : ` (recorded by entry ${page.pruned.recorded_by})`) +
            ": their bodies are deleted; their hashes stay in the log, and their proofs still verify.",
        )
      : null;
    list = h(
      "div",
      null,
      pruned,
      page.events.length === 0
        ? h("p", { class: "muted", "data-testid": "no-events" }, "No entries match.")
        : h(
            "table",
            { class: "events", "data-testid": "events-table" },
            h(
              "thead",
              null,
              h(
                "tr",
                null,
                ["Seq", "Received", "Action", "Actor", "Outcome", "Targets"].map((c) => h("th", null, c)),
              ),
            ),
            h(
              "tbody",
              null,
              page.events.map((e) =>
                h(
                  "tr",
                  { "data-seq": e.seq },
                  h("td", null, h("a", { href: tenantHash(t, `/events/${e.seq}`) }, String(e.seq))),
                  h("td", { class: "nowrap" }, show(e.received_at)),
                  h("td", null, show(e.event.action ?? "")),
                  h(
                    "td",
                    null,
                    personalText(e, "actor.name") ?? show(e.event.actor?.name ?? e.event.actor?.id ?? ""),
                    e.event.actor?.type ? h("small", null, " ", show(e.event.actor.type)) : null,
                  ),
                  h("td", null, h("span", { class: `outcome ${String(e.event.outcome)}` }, show(e.event.outcome ?? ""))),
                  h("td", null, show((e.event.targets ?? []).map((x) => (x as { id?: unknown }).id).join(", "))),
                ),
              ),
            ),
          ),
      h("div", { class: "row" }, pageLink(page.prev_cursor, "← Previous"), pageLink(page.next_cursor, "Next →")),
    );
  } catch (e) {
    list = errorBanner(e);
  }
  return h(
    "section",
    null,
    h(
      "div",
      { class: "row" },
      h("h1", null, "Events"),
      h("span", { class: "spacer" }),
      h("a", { href: exportLink("jsonl"), class: "button secondary", download: "" }, "Export JSONL"),
      h("a", { href: exportLink("csv"), class: "button secondary", download: "" }, "Export CSV"),
    ),
    filterForm(ctx),
    list,
  );
}

export async function entryPage(ctx: TenantContext, seqText: string): Promise<Node> {
  const t = ctx.tenant.id;
  if (!/^[0-9]+$/.test(seqText)) return errorBanner(new Error("Not an entry number."));
  let e: EntryView;
  try {
    e = await json<EntryView>(tenantPath(t, `/events/${seqText}`));
  } catch (err) {
    // The server found its stored copy is not the log's entry and refused to show it.
    if (!(err instanceof ApiError) || err.code !== "integrity_error") throw err;
    return h(
      "section",
      null,
      h("h1", null, `Entry ${seqText}`),
      h(
        "div",
        { "data-testid": "entry-check" },
        banner("bad", h("strong", null, `Entry ${seqText} FAILED the server's integrity check. `), err.message),
      ),
    );
  }
  const check = h("div", { "data-testid": "entry-check" }, banner("info", "Checking this entry's proof in your browser…"));
  void (async () => {
    try {
      const pin = await pinState(t, ctx.now);
      if (typeof pin === "string") return check.replaceChildren(banner("bad", pin));
      // The current checkpoint, checked here (signature, consistency with the last one seen),
      // then this entry's inclusion in exactly that tree.
      const cp = await checkCheckpoint(t, pin.pin);
      const failure = cp.failure ?? (await checkEntry(t, cp.checkpoint!, e));
      check.replaceChildren(
        failure
          ? banner("bad", `Entry ${e.seq} FAILED the in-browser check. ${describeFailure(failure)}`)
          : banner(
              "ok",
              `Verified in your browser: these exact bytes are entry ${e.seq} of the tree of ${cp.checkpoint!.size} entries whose checkpoint is signed by the pinned key (${pin.pin.origin}).`,
            ),
      );
    } catch (err) {
      check.replaceChildren(errorBanner(err));
    }
  })();
  // The fields shown are read from the stored bytes themselves (the ones the check hashes),
  // not from the server's parsed copy of them.
  let stored: { received_at?: unknown; event?: Record<string, unknown> } = {};
  try {
    const parsed = JSON.parse(e.entry) as unknown;
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) stored = parsed as typeof stored;
  } catch {
    // Not JSON: the check below fails, and the bytes are shown as they are.
  }
  const ev = stored.event !== null && typeof stored.event === "object" ? stored.event : {};
  const rows: [string, Node][] = [
    ["Sequence", h("span", null, String(e.seq))],
    ["Received at", show(stored.received_at ?? "")],
    ["Action", show(ev.action ?? "")],
    ["Actor", show(ev.actor ?? null)],
    ["Outcome", show(ev.outcome ?? "")],
    ["Targets", show(ev.targets ?? [])],
    ["Leaf hash (RFC 6962)", h("code", null, e.leaf_hash)],
  ];
  return h(
    "section",
    null,
    h("p", null, h("a", { href: tenantHash(t, "/events") }, "← Events")),
    h("h1", null, `Entry ${e.seq}`),
    check,
    personalSection(e),
    h(
      "table",
      { class: "kv" },
      h(
        "tbody",
        null,
        rows.map(([k, v]) => h("tr", null, h("th", null, k), h("td", null, v))),
      ),
    ),
    h("h2", null, "Stored bytes"),
    h(
      "p",
      { class: "muted" },
      "Exactly what was hashed into the log (RFC 8785 canonical JSON). Control and direction characters are shown escaped, ",
      h("span", { class: "esc" }, "like\\u{1B}this"),
      ".",
    ),
    h("pre", { class: "bytes", "data-testid": "entry-bytes" }, inert(e.entry)),
    h(
      "div",
      { class: "row" },
      h(
        "a",
        { class: "button", href: tenantPath(t, `/events/${e.seq}/proof`), download: `${e.seq}.tlog-proof` },
        "Download proof (.tlog-proof)",
      ),
      h("a", { class: "button secondary", href: tenantPath(t, `/events/${e.seq}`), download: `${e.seq}.json` }, "Download entry"),
    ),
    h(
      "p",
      { class: "muted" },
      "Check it offline: ",
      h("code", null, `npx sealtrail verify-proof ${e.seq}.tlog-proof --entry ${e.seq}.json --key "$KEY"`),
    ),
  );
}
