/**
 * Verification: the server's full run (docs/design.md invariant 9) with its progress and
 * report, and this browser's own checks with src/core against the pinned key: the checkpoint's
 * signature, its consistency with the last one seen here, and the newest entries' proofs.
 */
import { describePruned } from "../core/audit";
import { checkQuorum, parseCosignerKey } from "../core/cosignature";
import { ApiError, json, query, tenantPath } from "./api";
import { h, show } from "./dom";
import type { TenantContext } from "./route";
import { checkFromTiles } from "./tiles";
import { checkCheckpoint, checkEntry, describeFailure, pinState, writePin, type CheckFailure, type Pin } from "./trust";
import { ago, banner, copyable, errorBanner } from "./ui";
import type { EntryView, EventPage, Job, Report, ReportList, Stats, VerificationFailure } from "./wire";

/** Entries whose proofs the browser checks, from the newest back. */
export const BROWSER_CHECKED_ENTRIES = 20;
const POLL_MS = 1000;

function failureRow(f: VerificationFailure): HTMLElement {
  const where = f.seq !== undefined && f.seq !== null ? `entry ${f.seq}` : (f.key ?? "");
  const detail = [
    f.detail,
    f.expected !== undefined ? `expected ${JSON.stringify(f.expected)}` : "",
    f.found !== undefined ? `found ${JSON.stringify(f.found)}` : "",
  ]
    .filter(Boolean)
    .join("; ");
  return h(
    "tr",
    { "data-kind": f.kind },
    h("td", null, h("code", null, f.kind)),
    h("td", null, show(where)),
    h("td", { class: "wrap" }, show(detail)),
  );
}

export function reportView(r: Report): HTMLElement {
  // Retention (issue #17): bodies below the floor the log records were deleted on purpose; their hashes were checked.
  const pruned = r.pruned ? `; ${describePruned(r.pruned)}: leaf hashes checked, bodies deleted by retention` : "";
  const summary = `${r.checked.entries} entries and ${r.checked.seals} seal(s) in range [${r.range.from}, ${r.range.to}), ${r.duration_ms} ms${pruned}`;
  if (r.ok && r.mode === "range") {
    // A range run that passes vouches for its range alone, never for the log.
    return h(
      "div",
      { "data-testid": "report", "data-ok": "true" },
      banner(
        "info",
        h("strong", null, "Range verified. "),
        `Only entries [${r.range.from}, ${r.range.to}) were checked: ${summary}. This is not a full verification.`,
      ),
    );
  }
  if (r.ok)
    return h(
      "div",
      { "data-testid": "report", "data-ok": "true" },
      banner("ok", h("strong", null, "Verified. "), `Every entry and seal checked out: ${summary}.`),
    );
  return h(
    "div",
    { "data-testid": "report", "data-ok": "false" },
    banner("bad", h("strong", null, "Verification FAILED. "), `${r.failures.length} failure(s) found; checked ${summary}.`),
    h(
      "table",
      { class: "failures" },
      h("thead", null, h("tr", null, h("th", null, "Failure"), h("th", null, "Where"), h("th", null, "Detail"))),
      h("tbody", null, r.failures.map(failureRow)),
    ),
  );
}

/**
 * The newest checkpoint must carry the tenant's witness quorum: each cosignature is verified
 * here with src/core (docs/design.md "Witnessing"). The witnesses' keys come from the tenant's
 * settings on the server; the log's own key is the pinned one.
 */
async function witnessCheck(t: string, note: string): Promise<HTMLElement> {
  const stats = await json<Stats>(tenantPath(t, "/stats"));
  if (stats.witness_quorum === 0) return banner("info", "Witnesses: no quorum is set, so no cosignatures are required.");
  const keys = stats.witnesses.flatMap((w) => {
    const k = parseCosignerKey(w.key);
    return k.ok ? [k.value] : [];
  });
  const q = checkQuorum(note, keys, stats.witness_quorum);
  if (q.ok)
    return banner(
      "ok",
      `Witnessed: cosigned by ${q.value.valid.map((v) => v.key.name).join(", ")} (quorum ${stats.witness_quorum}), each cosignature verified in this browser.`,
    );
  const e = q.error;
  const got = e.reason === "quorum_not_met" ? `${e.got} of the ${e.need}` : `none of the ${stats.witness_quorum}`;
  return banner(
    "bad",
    `Witnesses: the newest checkpoint carries ${got} valid cosignatures required (${e.reason}). Witnesses cosign within seconds of a change: if the log just grew, check again; otherwise see the overview's witness alerts.`,
  );
}

async function browserChecks(ctx: TenantContext, pin: Pin, out: HTMLElement): Promise<void> {
  const t = ctx.tenant.id;
  out.replaceChildren(banner("info", "Checking in your browser…"));
  const cp = await checkCheckpoint(t, pin);
  if (cp.failure) {
    out.replaceChildren(banner("bad", describeFailure(cp.failure)));
    return;
  }
  const size = cp.checkpoint!.size;
  const lines: HTMLElement[] = [
    banner(
      "ok",
      `Checkpoint: ${size} entries, signed by the pinned key${cp.previous !== undefined ? `, consistent with the checkpoint of ${cp.previous} entries this browser verified before` : ""}.`,
    ),
  ];
  lines.push(await witnessCheck(t, cp.note ?? ""));
  if (size === 0) {
    out.replaceChildren(...lines, banner("info", "The log is empty: there are no entries to check."));
    return;
  }
  // Exactly the entries [from, size) must be checked: one the list leaves out (the D1 mirror
  // may lag) is read on its own, from the Durable Object if need be; one still missing fails.
  const from = Math.max(0, size - BROWSER_CHECKED_ENTRIES);
  // The server refuses a page (or an entry) whose stored copy contradicts the log's tree
  // (integrity_error): then each entry is read on its own, and the refused ones are named.
  const refused = (err: unknown) => err instanceof ApiError && err.code === "integrity_error";
  const page = await json<Pick<EventPage, "events">>(
    tenantPath(t, `/events${query({ from_seq: from, to_seq: size, limit: BROWSER_CHECKED_ENTRIES })}`),
  ).catch((err: unknown) => {
    if (refused(err)) return { events: [] };
    throw err;
  });
  const bySeq = new Map(page.events.map((e) => [e.seq, e]));
  const failures: CheckFailure[] = [];
  for (let seq = from; seq < size; seq++) {
    // Only "not found" means missing; any other error (a 503, the network) stops the check.
    const e =
      bySeq.get(seq) ??
      (await json<EntryView>(tenantPath(t, `/events/${seq}`)).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 404) return undefined;
        if (refused(err)) return "refused" as const;
        throw err;
      }));
    const f =
      e === "refused"
        ? ({ reason: "entry_not_included", seq, detail: "the server's stored copy failed its integrity check (integrity_error)" } as const)
        : e
          ? await checkEntry(t, cp.checkpoint!, e)
          : ({ reason: "entry_missing", seq } as const);
    if (f) failures.push(f);
  }
  const count = size - from;
  lines.push(
    failures.length === 0
      ? banner("ok", `Entries ${from}–${size - 1}: all ${count} proofs check out against the bytes the server shows.`)
      : banner(
          "bad",
          h("strong", null, `${failures.length} of ${count} entries failed: `),
          h(
            "ul",
            null,
            failures.map((f) => h("li", { "data-seq": "seq" in f ? f.seq : "" }, describeFailure(f))),
          ),
        ),
  );
  out.replaceChildren(...lines);
}

function pinPanel(ctx: TenantContext, state: Awaited<ReturnType<typeof pinState>>): HTMLElement {
  const t = ctx.tenant.id;
  if (typeof state === "string") return banner("bad", state);
  const area = h("textarea", { rows: 2, placeholder: "sealtrail.localhost/<tenant>+1234abcd+AbC…" });
  const status = h("div");
  const pinButton = h("button", { type: "button", class: "secondary" }, "Pin this key instead");
  pinButton.addEventListener("click", () => {
    const r = writePin(
      t,
      area.value.split("\n").filter((l) => l.trim()),
      new Date(),
    );
    if (typeof r === "string") status.replaceChildren(banner("bad", r));
    else location.reload();
  });
  return h(
    "div",
    { class: "panel" },
    h("h2", null, "Pinned verifier key"),
    state.firstUse
      ? banner(
          "warn",
          "First visit from this browser: the key the server serves was pinned now. Compare it with one you got out of band (from the tenant's auditor, your contract) to be sure.",
        )
      : h(
          "p",
          { class: "muted" },
          `Pinned ${ago(state.pin.pinned_at, ctx.now)} in this browser. Checks below use only this key, not the server's word.`,
        ),
    state.unpinned.length > 0
      ? banner(
          "warn",
          `The server now also offers ${state.unpinned.length} key(s) that are not pinned. They are not trusted here until you pin them.`,
        )
      : null,
    state.pin.keys.map((k) => copyable(k, "pinned-key")),
    h("details", null, h("summary", null, "Pin a different key"), area, pinButton, status),
  );
}

export async function verifyPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const result = h("div", { "data-testid": "verify-result" });
  const progress = h("progress", { max: 1, value: 0, hidden: true });
  const progressText = h("span", { class: "muted" });
  const browser = h("div", { "data-testid": "browser-checks" });
  const run = h("button", { type: "button", "data-testid": "run-verification" }, "Run full verification");
  let pin: Pin | null = null;

  run.addEventListener("click", async () => {
    run.disabled = true;
    result.replaceChildren();
    progress.hidden = false;
    try {
      let job = await json<Job>(tenantPath(t, "/verify"), { method: "POST", body: { mode: "full" } });
      while (job.status !== "done") {
        progress.max = Math.max(1, job.progress.to);
        progress.value = job.progress.next;
        progressText.textContent = ` ${job.progress.phase}: ${job.progress.next} of ${job.progress.to} entries`;
        await new Promise((r) => setTimeout(r, POLL_MS));
        job = await json<Job>(tenantPath(t, `/verify/${job.job_id}`));
      }
      progress.value = progress.max;
      progressText.textContent = "";
      result.replaceChildren(reportView(job.report!));
      void showHistory();
      if (pin) void browserChecks(ctx, pin, browser).catch((e) => browser.replaceChildren(errorBanner(e)));
    } catch (e) {
      result.replaceChildren(errorBanner(e));
    } finally {
      run.disabled = false;
      progress.hidden = true;
    }
  });

  const state = await pinState(t, ctx.now);
  if (typeof state !== "string") pin = state.pin;
  const history = h("div", { "data-testid": "history" });
  const status = h("div", { "data-testid": "verification-status" });
  const showHistory = async () => {
    const [{ reports }, stats] = await Promise.all([json<ReportList>(tenantPath(t, "/verify")), json<Stats>(tenantPath(t, "/stats"))]);
    const now = new Date();
    // The tenant's status is its last full run; range runs are listed below but never count.
    const full = stats.last_full_verification;
    status.replaceChildren(
      full
        ? banner(
            full.ok ? "ok" : "bad",
            `Last full verification ${full.ok ? "passed" : `FAILED with ${full.failures} failure(s)`} ${ago(full.finished_at, now)} (entries [${full.range.from}, ${full.range.to})).`,
          )
        : banner("warn", "This log has no full verification yet. Range runs check part of the log only and do not count."),
    );
    history.replaceChildren(
      reports.length === 0
        ? h("p", { class: "muted" }, "None yet.")
        : h(
            "table",
            { class: "history" },
            h(
              "thead",
              null,
              h("tr", null, h("th", null, "When"), h("th", null, "Mode"), h("th", null, "Entries"), h("th", null, "Result")),
            ),
            h(
              "tbody",
              null,
              reports.map((r) =>
                h(
                  "tr",
                  { "data-mode": r.mode },
                  h("td", null, `${r.created_at} (${ago(r.created_at, now)})`),
                  h("td", null, r.mode),
                  h("td", null, r.range ? `[${r.range.from}, ${r.range.to})` : ""),
                  h("td", null, h("span", { class: r.ok ? "good" : "badtext" }, r.ok ? "passed" : `failed (${r.failures})`)),
                ),
              ),
            ),
          ),
    );
  };
  await showHistory();
  const browserButton = h("button", { type: "button", class: "secondary" }, "Check in this browser");
  browserButton.addEventListener("click", () => {
    if (!pin) return;
    browserButton.disabled = true;
    void browserChecks(ctx, pin, browser)
      .catch((e) => browser.replaceChildren(errorBanner(e)))
      .finally(() => (browserButton.disabled = false));
  });
  const tilesOut = h("div", { "data-testid": "tile-checks" });
  const tilesButton = h("button", { type: "button", class: "secondary", "data-testid": "check-tiles" }, "Check from tiles");
  tilesButton.addEventListener("click", () => {
    if (!pin) return;
    tilesButton.disabled = true;
    tilesOut.replaceChildren(banner("info", "Fetching tiles…"));
    void checkFromTiles(t, pin)
      .then((r) => tilesOut.replaceChildren(banner(r.ok ? "ok" : "bad", r.message)))
      .catch((e) => tilesOut.replaceChildren(errorBanner(e)))
      .finally(() => (tilesButton.disabled = false));
  });
  return h(
    "section",
    null,
    h("h1", null, "Verification"),
    status,
    h(
      "p",
      null,
      "A full run re-derives every entry hash, the hash chain, the Merkle tree and every sealed snapshot from D1, R2 and KV, and compares them with the signed checkpoints. The run is itself logged.",
    ),
    h("div", { class: "row" }, run, progress, progressText),
    result,
    h("h2", null, "In your browser"),
    h(
      "p",
      { class: "muted" },
      `Your browser checks the signed checkpoint, its consistency with the last one it saw, and the proofs of the newest ${BROWSER_CHECKED_ENTRIES} entries, with Sealtrail's own verification code running here.`,
    ),
    browserButton,
    browser,
    h(
      "p",
      { class: "muted" },
      "Or check from the log's c2sp.org/tlog-tiles alone (/logs/<tenant>/): the signed checkpoint, every hash tile, the root they give, and consistency with the last checkpoint seen here.",
    ),
    tilesButton,
    tilesOut,
    pinPanel(ctx, state),
    h("h2", null, "Past runs"),
    history,
  );
}
