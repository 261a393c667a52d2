/**
 * Same-origin calls to the Worker with the signed-in person's cookie session: the console uses
 * exactly the API and better-auth routes everyone else does. Browsers send `Origin` on these
 * requests, which both better-auth and /v1 require for changes made with a cookie. The shapes of
 * the answers are in wire.ts.
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
