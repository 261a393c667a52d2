/**
 * Same-origin calls to the Worker with the signed-in person's cookie session: the console uses
 * exactly the API and better-auth routes everyone else does. Browsers send `Origin` on these
 * requests, which both better-auth and /v1 require for changes made with a cookie.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  let code = `http_${res.status}`;
  let message = res.statusText || `HTTP ${res.status}`;
  try {
    const body = (await res.json()) as { error?: { code?: string; message?: string }; code?: string; message?: string };
    // /v1 errors are {"error":{code,message}}; better-auth's are {code,message}.
    code = body.error?.code ?? body.code ?? code;
    message = body.error?.message ?? body.message ?? message;
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(res.status, code, message);
}

export async function call(path: string, init: { method?: string; body?: unknown } = {}): Promise<Response> {
  const res = await fetch(path, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    credentials: "same-origin",
    headers: init.body === undefined ? {} : { "content-type": "application/json" },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  if (!res.ok) throw await errorOf(res);
  return res;
}

export async function json<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  return (await (await call(path, init)).json()) as T;
}

export const text = async (path: string): Promise<string> => (await call(path)).text();

export const tenantPath = (tenant: string, rest: string) => `/v1/tenants/${encodeURIComponent(tenant)}${rest}`;

/** A query string from the non-empty values of `q`. */
export function query(q: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
}

// The wire shapes the console reads (src/worker/routes/*).
export interface Session {
  user: { id: string; email: string; name: string };
}
export interface Org {
  id: string;
  name: string;
  slug: string;
}
export interface EntryView {
  seq: number;
  leaf_hash: string;
  received_at: string;
  event: { action?: string; actor?: { id?: string; type?: string; name?: string }; outcome?: string; targets?: unknown[] } & Record<string, unknown>;
  provenance: unknown;
  entry: string;
}
export interface Stats {
  size: number;
  mirrored_to: number;
  mirror_lag: number;
  mirror_failures: number;
  sealed_to: number;
  latest_seal: { id: string; sealed_at: string; from: number; to: number } | null;
  seal_failures: number;
  last_seal_error: string | null;
  refusing_writes: boolean;
  skewed_events: number;
  last_received_at: string | null;
  usual_gap_ms: number | null;
  ingest_stalled: boolean;
  /** The tenant's verification status: its last full run (a range run never counts). */
  last_full_verification: FullVerification | null;
}
export interface FullVerification {
  job_id: string;
  ok: boolean;
  failures: number;
  finished_at: string;
  range: { from: number; to: number };
}
/** A row of GET /verify. */
export interface ReportRow {
  job_id: string;
  mode: string;
  range: { from: number; to: number } | null;
  ok: boolean;
  failures: number;
  created_at: string;
}
export interface VerificationFailure {
  kind: string;
  seq?: number | null;
  key?: string;
  detail?: string;
  expected?: unknown;
  found?: unknown;
}
export interface Report {
  job_id: string;
  ok: boolean;
  mode: string;
  range: { from: number; to: number };
  checked: { entries: number; seals: number; bundle_entries: number; sampled: number };
  finished_at: string;
  duration_ms: number;
  failures: VerificationFailure[];
}
export interface Job {
  job_id: string;
  status: "running" | "done";
  mode: string;
  range: { from: number; to: number };
  progress: { checked: number; next: number; to: number; phase: string };
  report: Report | null;
}
export interface SealSummary {
  id: string;
  from: number;
  to: number;
  root: string;
  sealed_at: string;
  bundle_sha256: string;
}
export interface PublishedKey {
  tenant: string;
  origin: string;
  version: number;
  verifier_key: string;
}
