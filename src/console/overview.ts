/** A tenant at a glance: size, seals, verification, the D1 mirror, alerts, and activity. */
import { json, tenantPath } from "./api";
import { barChart } from "./chart";
import { h, show } from "./dom";
import { tenantHash, type TenantContext } from "./route";
import { ago, banner, card } from "./ui";
import type { Activity, Incident, ReportList, ReportRow, Stats } from "./wire";

/** A lag in ms as people read it: "0.4 s", "2 min". */
export const seconds = (ms: number): string => (ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);

/**
 * The alerts of a tenant's state; an empty list means all is well (pure, for tests). The
 * verification status is the last full run (`s.last_full_verification`); `newest`, the newest
 * run of any mode, adds an alert only when it failed: a range run that passes says nothing
 * about the rest of the log, one that fails has found something.
 */
export function alertsOf(
  s: Stats,
  newest: Pick<ReportRow, "job_id" | "mode" | "range" | "ok" | "failures"> | null,
): { tone: "bad" | "warn"; text: string }[] {
  const out: { tone: "bad" | "warn"; text: string }[] = [];
  const full = s.last_full_verification;
  if (s.refusing_writes)
    out.push({
      tone: "bad",
      text: "The log refuses writes: its reconcile check found stored seals that disagree with its state (a possible split view). Appends and seals are stopped until an operator resolves it.",
    });
  if (full && !full.ok)
    out.push({ tone: "bad", text: `The last verification failed with ${full.failures} failure(s) (a full run). See Verification.` });
  if (newest && !newest.ok && newest.job_id !== full?.job_id) {
    const range = newest.range ? ` of entries [${newest.range.from}, ${newest.range.to})` : "";
    out.push({ tone: "bad", text: `A ${newest.mode} verification${range} found ${newest.failures} failure(s). See Verification.` });
  }
  // A witness refusing our checkpoint (422) or holding a larger tree of ours (409): a split view is possible.
  if (s.witness_alert_count > 0) {
    const last = s.witness_alerts[0];
    out.push({
      tone: "bad",
      text: `A witness refused this log's checkpoint (${s.witness_alert_count} alert(s)${last ? `; the latest: ${last.witness}, ${last.detail}` : ""}). Someone may have been shown another history of this log: investigate before trusting new checkpoints.`,
    });
  }
  // Retention (issue #17): deletions below the floor failed (an R2 bucket lock, D1): retried by the log, shown until done.
  if (s.retention_error !== null)
    out.push({
      tone: "warn",
      text:
        `Retention could not delete everything below entry ${s.retention_floor} (done below ${s.retention_cleaned_to}): ` +
        `${s.retention_error}. It is retried; check the R2 bucket lock's retention against the tenant's period.`,
    });
  const failing = s.witnesses.filter((w) => w.failures > 0);
  if (failing.length > 0)
    out.push({
      tone: "warn",
      text: `${failing.length} witness(es) failing: ${failing.map((w) => `${w.url} (${w.last_error ?? "error"})`).join("; ")}. Checkpoints past size ${s.witnessed_size} lack their quorum of ${s.witness_quorum}.`,
    });
  if (s.seal_failures > 0)
    out.push({
      tone: "bad",
      text: `Sealing is failing (${s.seal_failures} attempt(s)): ${s.last_seal_error ?? "unknown error"}. Entries are safe in the log; snapshots are behind.`,
    });
  if (s.mirror_lag_alert)
    out.push({
      tone: "warn",
      text: `The D1 mirror is ${s.mirror_lag} entries and ${seconds(s.mirror_lag_ms)} behind${s.mirror_failures > 0 ? ` after ${s.mirror_failures} failed write(s)` : ""}. Entries are safe in the log; reads and exports from D1 miss them until it catches up.`,
    });
  else if (s.mirror_lag > 0 && s.mirror_failures > 0)
    out.push({
      tone: "warn",
      text: `The D1 mirror is ${s.mirror_lag} entries behind after ${s.mirror_failures} failed write(s). Entries are safe in the log and are copied when D1 recovers.`,
    });
  if (s.ingest_stalled)
    out.push({
      tone: "warn",
      text: `No events for much longer than usual (last one ${s.last_received_at ?? "never"}). Check your senders.`,
    });
  // Numbered sources (README "Missed events: gaps and silence"); the Sources page lists the ranges.
  if (s.sources.open_gaps > 0)
    out.push({
      tone: "bad",
      text: `${s.sources.missing} event(s) missing from ${s.sources.with_gaps} source(s): their numbers never arrived (${s.sources.open_gaps} range(s)). See Sources.`,
    });
  if (s.sources.silent > 0)
    out.push({ tone: "warn", text: `${s.sources.silent} source(s) silent for longer than their declared cadence. See Sources.` });
  if (s.skewed_events > 0)
    out.push({ tone: "warn", text: `${s.skewed_events} event(s) carried an occurred_at far from the time they were received.` });
  // Log streams (README "Log streams"): a paused stream delivers nothing until resumed.
  for (const st of s.streams ?? [])
    if (st.paused)
      out.push({
        tone: "warn",
        text: `Log stream “${st.name}” (${st.type}) is paused, ${st.lag_entries} entries behind: ${st.last_error ?? "paused by request"}. Resume it on the Streams page.`,
      });
  return out;
}

/** What each alert kind means, for people (README "Alerts"). */
const ALERT_NAMES: Record<string, string> = {
  seal_failing: "Sealing failing",
  mirror_lag: "D1 mirror lagging",
  clock_skew: "Clock skew",
  ingest_stalled: "Ingest stalled",
  writes_refused: "Writes refused",
  witness_disagrees: "Witness disagrees",
  verification_failed: "Verification failed",
  verification_overdue: "Verification overdue",
  source_silent: "Source silent",
  source_gap: "Source gap",
  stream_paused: "Stream paused",
};

export const alertName = (kind: string, key: string): string => `${ALERT_NAMES[kind] ?? kind}${key === "" ? "" : ` (${key})`}`;

/** Open alerts and recent incidents, with their start and end (each is a sealtrail.alert.* entry). */
export function incidentsSection(s: Pick<Stats, "open_alerts" | "recent_incidents">, now: Date): Node {
  const row = (i: Incident) =>
    h(
      "tr",
      null,
      h("td", null, show(alertName(i.kind, i.key))),
      h("td", null, i.started_at),
      h("td", null, i.ended_at ?? h("span", { class: "badtext" }, "open")),
      h(
        "td",
        null,
        show(
          Object.entries(i.detail)
            .map(([k, v]) => `${k}: ${String(v)}`)
            .join(", "),
        ),
      ),
    );
  return h(
    "div",
    { "data-testid": "incidents" },
    h("h2", null, "Alerts"),
    s.open_alerts.length === 0
      ? h("p", { class: "muted" }, "No open alerts.")
      : h(
          "ul",
          { "data-testid": "open-alerts" },
          s.open_alerts.map((a) => h("li", null, show(alertName(a.kind, a.key)), ` since ${a.since} (${ago(a.since, now)})`)),
        ),
    s.recent_incidents.length === 0
      ? null
      : h(
          "table",
          { "data-testid": "recent-incidents" },
          h(
            "thead",
            null,
            h("tr", null, h("th", null, "Incident"), h("th", null, "Started"), h("th", null, "Ended"), h("th", null, "Detail")),
          ),
          h("tbody", null, s.recent_incidents.map(row)),
        ),
    h(
      "p",
      { class: "muted" },
      "Each incident is logged once as sealtrail.alert.raised and once as sealtrail.alert.cleared; a stream filtered to sealtrail.alert. delivers them.",
    ),
  );
}

export async function overviewPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const range = (["24h", "7d", "30d"] as const).find((r) => r === ctx.route.params.get("range")) ?? "24h";
  const [stats, reports, activity] = await Promise.all([
    json<Stats>(tenantPath(t, "/stats")),
    json<ReportList>(tenantPath(t, "/verify")).catch(() => null),
    json<Activity>(tenantPath(t, `/stats/activity?range=${range}`)),
  ]);
  // The status is the last full run; a range run never stands in for it.
  const full = stats.last_full_verification;
  const alerts = alertsOf(stats, reports?.reports[0] ?? null);
  const hourly = activity.bucket_seconds < 86400;
  // Buckets are aligned to UTC hours and days, so they are labelled in UTC.
  const label = (iso: string) => {
    const d = new Date(iso);
    return hourly ? `${String(d.getUTCHours()).padStart(2, "0")}:00` : `${d.getUTCMonth() + 1}/${d.getUTCDate()}`;
  };
  const total = activity.buckets.reduce((a, b) => a + b.count, 0);
  return h(
    "section",
    null,
    h("h1", null, show(ctx.tenant.name)),
    h(
      "div",
      { class: "alerts", "data-testid": "alerts" },
      alerts.length === 0
        ? banner("ok", "All is well: the log accepts writes, seals are current and nothing is flagged.")
        : alerts.map((a) => banner(a.tone, a.text)),
    ),
    h(
      "div",
      { class: "cards" },
      card("Entries", String(stats.size), stats.last_received_at ? `last ${ago(stats.last_received_at, ctx.now)}` : "none yet"),
      card(
        "Last seal",
        stats.latest_seal ? `#${Number(stats.latest_seal.id)}` : "none",
        stats.latest_seal
          ? `${ago(stats.latest_seal.sealed_at, ctx.now)} · sealed to entry ${stats.sealed_to}`
          : "entries are sealed on the seal interval",
      ),
      card(
        "Last full verification",
        full
          ? h("span", { class: full.ok ? "good" : "badtext", "data-testid": "full-verification" }, full.ok ? "passed" : "FAILED")
          : "never run",
        full ? `${ago(full.finished_at, ctx.now)} · entries [${full.range.from}, ${full.range.to})` : "partial (range) runs do not count",
      ),
      card(
        "Witnessed",
        stats.witness_quorum > 0 ? `to entry ${stats.witnessed_size}` : stats.witnesses.length > 0 ? "no quorum set" : "no witnesses",
        stats.witnesses.length > 0
          ? `quorum ${stats.witness_quorum} of ${stats.witnesses.length} witness(es)${stats.witness_alert_count > 0 ? ` · ${stats.witness_alert_count} alert(s)` : ""}`
          : "set witnesses in Settings or the API",
      ),
      card(
        "Legal holds",
        h("a", { href: tenantHash(t, "/holds"), "data-testid": "active-holds" }, `${stats.active_holds} active`),
        stats.active_holds > 0 ? "retention cannot be lowered; held entries are kept" : "nothing held beyond the retention period",
      ),
      card(
        "D1 mirror lag",
        h("span", { class: stats.mirror_lag_alert ? "badtext" : "", "data-testid": "mirror-lag" }, `${stats.mirror_lag} entries`),
        `${seconds(stats.mirror_lag_ms)} behind${stats.mirror_failures > 0 ? ` · ${stats.mirror_failures} failed write(s)` : stats.mirror_lag === 0 ? " · in step" : ""}` +
          ` · ${stats.placement.jurisdiction} D1 shard ${stats.placement.shard}`,
      ),
    ),
    h(
      "div",
      { class: "row" },
      h("h2", null, "Entries over time (UTC)"),
      h("span", { class: "spacer" }),
      (["24h", "7d", "30d"] as const).map((r) =>
        h("a", { href: tenantHash(t, `/overview?range=${r}`), class: r === range ? "pill active" : "pill" }, r),
      ),
    ),
    barChart(activity.buckets, label),
    h("p", { class: "muted" }, `${total} entries in the last ${range} (counted in the D1 mirror).`),
    incidentsSection(stats, ctx.now),
  );
}
