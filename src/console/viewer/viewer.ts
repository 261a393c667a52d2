/**
 * The embeddable viewer (issue #19.5), the script of GET /embed/viewer/:t (routes/viewer.ts),
 * running in an iframe on a tenant's page. Read-only: one slice of the log (the viewer token's
 * view), filters, export, and proof checks in the browser with src/core.
 *
 * The token never travels in a URL the server sees: it comes in the fragment (`#token=…`, which
 * browsers do not send; removed from the address at once) or by postMessage from the parent
 * page (`<sealtrail-viewer>`, element.ts), which may also send a new token before one expires,
 * the host's CSS variables (`--sealtrail-*`) and a verifier key to pin.
 *
 * Checks: the checkpoint is opened with the tenant's verifier key (the host's pinned one, else
 * GET /v1/keys), and every shown entry's bytes are hashed here and proved included in that
 * checkpoint's tree (RFC 6962 inclusion proof at exactly its size). What the table shows is
 * read from those verified bytes, never from the server's parsed copy. Nothing is put on the
 * page as markup (dom.ts).
 */
import { fromBase64 } from "../../core/bytes";
import { openCheckpoint, type Checkpoint } from "../../core/checkpoint";
import { entryLeafHash } from "../../core/entry";
import { verifyInclusion } from "../../core/merkle";
import { parseVerifierKey, type NoteVerifier } from "../../core/note";
import { h, inert, mount, show } from "../dom";

interface Listed {
  events: { seq: number; entry: string }[];
  next_cursor: string | null;
  prev_cursor: string | null;
}
interface Stored {
  seq: number;
  received_at: string;
  event: {
    action: string;
    actor: { id: string; type: string; name?: string };
    targets?: { id: string; type: string; name?: string }[];
    outcome: string;
  };
}

const tenant = decodeURIComponent(location.pathname.split("/").pop() ?? "");
const root = document.getElementById("viewer") as HTMLElement;
let token: string | null = null;
let pinnedKey: string | null = null;
let cursor: string | null = null;

class HttpError extends Error {}

async function get(path: string): Promise<Response> {
  const res = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {}, credentials: "omit", cache: "no-store" });
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: { message?: string } } | null;
    throw new HttpError(body?.error?.message ?? `HTTP ${res.status}`);
  }
  return res;
}

const tenantPath = (rest: string) => `/v1/tenants/${encodeURIComponent(tenant)}${rest}`;

/** The verifier keys: the one the host pinned, else those the server publishes. */
async function verifiers(): Promise<NoteVerifier[]> {
  const texts = pinnedKey
    ? [pinnedKey]
    : ((await (await get(`/v1/keys?tenant=${encodeURIComponent(tenant)}`)).json()) as { keys: { verifier_key: string }[] }).keys.map(
        (k) => k.verifier_key,
      );
  const out: NoteVerifier[] = [];
  for (const t of texts) {
    const parsed = parseVerifierKey(t);
    if (parsed.ok && parsed.value.name.endsWith(`/${tenant}`)) out.push(parsed.value);
  }
  if (out.length === 0) throw new Error("No verifier key for this log.");
  return out;
}

async function verifiedCheckpoint(): Promise<Checkpoint> {
  const keys = await verifiers();
  const note = await (await get(tenantPath("/checkpoint"))).text();
  const opened = openCheckpoint(note, keys[0]!.name, keys);
  if (!opened.ok) throw new Error(`The checkpoint is not signed by the log's key (${opened.error.reason}).`);
  return opened.value;
}

/** null if `entry` (its bytes) is the leaf at `seq` in `cp`'s tree; else why not. */
async function checkEntry(cp: Checkpoint, seq: number, entry: string): Promise<string | null> {
  if (seq >= cp.size) return `beyond the checked tree of ${cp.size}`;
  const proof = (await (await get(tenantPath(`/proof/inclusion?index=${seq}&size=${cp.size}`))).json()) as { hashes: string[] };
  const hashes = proof.hashes.map((x) => fromBase64(x) ?? new Uint8Array(0));
  const r = verifyInclusion(seq, cp.size, entryLeafHash(entry), hashes, cp.root);
  return r.ok ? null : r.error.reason;
}

const FILTERS = ["action", "actor", "target", "since", "until"] as const;
const inputs = Object.fromEntries(
  FILTERS.map((f) => [
    f,
    h("input", {
      name: f,
      "data-filter": f,
      placeholder: f === "action" ? "e.g. user.* " : f === "since" || f === "until" ? "2026-01-01T00:00:00Z" : "",
      autocomplete: "off",
    }),
  ]),
) as Record<(typeof FILTERS)[number], HTMLInputElement>;

function query(): URLSearchParams {
  const q = new URLSearchParams();
  for (const f of FILTERS) if (inputs[f].value.trim()) q.set(f, inputs[f].value.trim());
  return q;
}

const status = h("p", { class: "status", "data-status": "" });
const table = h("tbody");
const pager = h("nav", { class: "pager" });

function setStatus(text: string, kind: "info" | "ok" | "bad" = "info") {
  status.className = `status ${kind}`;
  mount(status, text);
}

function row(stored: Stored, seq: number): HTMLTableRowElement {
  const e = stored.event;
  return h(
    "tr",
    { "data-seq": seq },
    h("td", null, String(seq)),
    h("td", null, inert(stored.received_at)),
    h("td", null, inert(e.action)),
    h("td", null, inert(e.actor.name ? `${e.actor.name} (${e.actor.id})` : e.actor.id)),
    h(
      "td",
      null,
      (e.targets ?? []).map((t, i) => [i > 0 ? ", " : "", inert(`${t.type}:${t.id}`)]),
    ),
    h("td", null, inert(e.outcome)),
    h("td", { class: "proof", "data-proof": "pending" }, "checking…"),
  );
}

async function load(): Promise<void> {
  if (!token) return setStatus("Waiting for a viewer token from the page…");
  setStatus("Loading…");
  const q = query();
  q.set("limit", "20");
  if (cursor) q.set("cursor", cursor);
  try {
    const listed = (await (await get(tenantPath(`/events?${q}`))).json()) as Listed;
    const rows = listed.events.map((ev) => {
      const stored = JSON.parse(ev.entry) as Stored;
      return { seq: ev.seq, entry: ev.entry, el: row(stored, ev.seq) };
    });
    mount(table, rows.length ? rows.map((r) => r.el) : h("tr", null, h("td", { colspan: 7 }, "No entries.")));
    mount(
      pager,
      listed.prev_cursor ? h("button", { type: "button", onclick: () => page(listed.prev_cursor) }, "← Previous") : null,
      listed.next_cursor ? h("button", { type: "button", onclick: () => page(listed.next_cursor) }, "Next →") : null,
    );
    setStatus("Checking proofs…");
    const cp = await verifiedCheckpoint();
    let bad = 0;
    for (const r of rows) {
      const why = await checkEntry(cp, r.seq, r.entry);
      const cell = r.el.querySelector("td.proof") as HTMLElement;
      cell.dataset.proof = why === null ? "ok" : "bad";
      mount(cell, why === null ? "✓ verified" : show(`✗ ${why}`));
      if (why !== null) bad++;
    }
    if (bad > 0) setStatus(`${bad} of ${rows.length} entries are NOT in the signed log (checkpoint of ${cp.size} entries).`, "bad");
    else
      setStatus(
        `${rows.length} entries shown, each proved included in the log's signed checkpoint of ${cp.size} entries (${cp.origin}).`,
        "ok",
      );
  } catch (e) {
    setStatus(e instanceof Error ? e.message : String(e), "bad");
  }
}

function page(c: string | null) {
  cursor = c;
  void load();
}

async function exportAs(format: "jsonl" | "csv") {
  const q = query();
  q.set("format", format);
  try {
    const blob = await (await get(tenantPath(`/export?${q}`))).blob();
    const a = h("a", { href: URL.createObjectURL(blob), download: `audit-log.${format}` });
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (e) {
    setStatus(e instanceof Error ? e.message : String(e), "bad");
  }
}

/** The host's CSS variables: only `--sealtrail-*` names, short values, set through the CSSOM. */
function applyStyles(styles: unknown) {
  if (typeof styles !== "object" || styles === null) return;
  for (const [name, value] of Object.entries(styles)) {
    if (/^--sealtrail-[a-z0-9-]{1,40}$/.test(name) && typeof value === "string" && value.length <= 200) {
      document.documentElement.style.setProperty(name, value);
    }
  }
}

mount(
  root,
  h(
    "form",
    {
      class: "filters",
      onsubmit: (ev: Event) => {
        ev.preventDefault();
        page(null);
      },
    },
    FILTERS.map((f) => h("label", null, f, inputs[f])),
    h("button", { type: "submit" }, "Search"),
    h("button", { type: "button", onclick: () => void exportAs("jsonl") }, "Export JSONL"),
    h("button", { type: "button", onclick: () => void exportAs("csv") }, "Export CSV"),
  ),
  status,
  h(
    "table",
    null,
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ["#", "Received", "Action", "Actor", "Targets", "Outcome", "Proof"].map((c) => h("th", null, c)),
      ),
    ),
    table,
  ),
  pager,
);

const fromFragment = new URLSearchParams(location.hash.slice(1)).get("token");
if (fromFragment) {
  token = fromFragment;
  // Out of the address bar and history: the fragment is never sent, but it could be copied.
  history.replaceState(null, "", location.pathname);
}

window.addEventListener("message", (ev: MessageEvent) => {
  // Only the page that frames the viewer (frame-ancestors lists who may) talks to it.
  if (ev.source !== window.parent || window.parent === window) return;
  const data = ev.data as { type?: unknown; token?: unknown; styles?: unknown; verifierKey?: unknown } | null;
  if (data?.type !== "sealtrail-viewer:init") return;
  applyStyles(data.styles);
  if (typeof data.verifierKey === "string" && data.verifierKey) pinnedKey = data.verifierKey;
  if (typeof data.token === "string" && data.token !== token) {
    token = data.token;
    void load();
  }
});

if (window.parent !== window) window.parent.postMessage({ type: "sealtrail-viewer:ready" }, "*");
void load();
