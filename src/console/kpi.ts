/**
 * KPIs (issue #18.4, as the seed asks): audit coverage (sources reporting versus silent), time to
 * detect (from an incident's start to its alert), and the D1 mirror's and the streams' lag over
 * the last 24 hours (GET …/stats/lag, one sample per minute).
 */
import { json, tenantPath } from "./api";
import { barChart } from "./chart";
import { h } from "./dom";
import { seconds } from "./overview";
import { tenantHash, type TenantContext } from "./route";
import { banner, card } from "./ui";
import type { LagSamples, Stats } from "./wire";

/**
 * One alert incident for time to detect: when its condition began (`started_at`), when its
 * `sealtrail.alert.raised` entry was appended (`raised_at`), when it ended. Named like the
 * incidents of /stats (`recent_incidents`, issue #18.2), plus `raised_at`.
 */
export interface DetectedIncident {
  kind: string;
  key: string;
  started_at: string;
  raised_at: string;
  ended_at: string | null;
}

/** The incidents /stats reports (`recent_incidents`: open and recently ended), with when each was raised. */
export function incidentsOf(stats: Stats): DetectedIncident[] {
  return stats.recent_incidents.map((i) => ({
    kind: i.kind,
    key: i.key,
    started_at: i.started_at,
    raised_at: i.raised_at,
    ended_at: i.ended_at,
  }));
}

/** Time to detect over incidents: how many, the median and the longest, in ms (null: none). Pure. */
export function timeToDetect(incidents: readonly DetectedIncident[]): { count: number; medianMs: number; maxMs: number } | null {
  const d = incidents
    .map((i) => Date.parse(i.raised_at) - Date.parse(i.started_at))
    .filter((ms) => Number.isFinite(ms))
    .map((ms) => Math.max(0, ms))
    .sort((a, b) => a - b);
  if (d.length === 0) return null;
  const mid = Math.floor(d.length / 2);
  const median = d.length % 2 === 1 ? d[mid]! : Math.round((d[mid - 1]! + d[mid]!) / 2);
  return { count: d.length, medianMs: median, maxMs: d[d.length - 1]! };
}

/** Audit coverage: the share of sources with a cadence that are not silent (null: none declared). Pure. */
export function coverage(s: Stats["sources"]): { percent: number; onTime: number; declared: number } | null {
  if (s.with_cadence === 0) return null;
  const onTime = s.with_cadence - s.silent;
  return { percent: Math.round((100 * onTime) / s.with_cadence), onTime, declared: s.with_cadence };
}

const hhmm = (iso: string) => {
  const d = new Date(iso);
  return `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`;
};

export async function kpiPage(ctx: TenantContext): Promise<Node> {
  const t = ctx.tenant.id;
  const [stats, lag] = await Promise.all([json<Stats>(tenantPath(t, "/stats")), json<LagSamples>(tenantPath(t, "/stats/lag"))]);
  const src = stats.sources;
  const cov = coverage(src);
  const ttd = timeToDetect(incidentsOf(stats));
  const mirror = lag.samples.map((s) => ({ start: s.at, count: s.mirror_lag_ms }));
  const streamed = lag.samples.filter((s) => s.stream_lag_ms !== null);
  return h(
    "section",
    null,
    h("h1", null, "KPIs"),
    h(
      "div",
      { class: "cards" },
      card(
        "Audit coverage",
        h("span", { class: src.silent > 0 ? "badtext" : "", "data-testid": "kpi-coverage" }, cov ? `${cov.percent}%` : "—"),
        cov
          ? `${cov.onTime} of ${cov.declared} source(s) with a cadence reporting · ${src.silent} silent`
          : "declare a cadence on the Sources page to measure it",
      ),
      card(
        "Sources",
        h("span", { "data-testid": "kpi-reporting" }, `${src.reporting} reporting`),
        `${src.silent} silent · ${src.with_gaps} with gaps (${src.missing} missing)${src.untracked_events > 0 ? ` · ${src.untracked_events} untracked event(s)` : ""}`,
      ),
      card(
        "Time to detect",
        h("span", { "data-testid": "kpi-ttd" }, ttd ? `median ${seconds(ttd.medianMs)}` : "no incidents yet"),
        ttd ? `longest ${seconds(ttd.maxMs)} over ${ttd.count} incident(s)` : "from an incident's start to its alert",
      ),
    ),
    h("h2", null, "D1 mirror lag, last 24 hours (ms, UTC)"),
    mirror.length === 0
      ? banner("info", "No samples yet: they are taken once a minute while the log commits or its alarm runs.")
      : barChart(mirror, hhmm, "Mirror lag over time"),
    h("h2", null, "Stream lag, last 24 hours (ms, UTC)"),
    streamed.length === 0
      ? h("p", { class: "muted", "data-testid": "stream-lag-none" }, "No stream reports its lag yet.")
      : barChart(
          streamed.map((s) => ({ start: s.at, count: s.stream_lag_ms ?? 0 })),
          hhmm,
          "Stream lag over time",
        ),
    h(
      "p",
      { class: "muted" },
      "Each bar is the highest lag seen in its minute; minutes without a commit or an alarm have no sample (nothing was waiting). See ",
      h("a", { href: tenantHash(t, "/sources") }, "Sources"),
      " for each source's gaps.",
    ),
  );
}
