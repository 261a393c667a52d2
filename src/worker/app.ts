/** The Hono app: each resource is a sub-app; one error handler maps failures to HTTP. */
import { Hono } from "hono";
import type { AppEnv } from "./app-env";
import { authFor } from "./auth";
import { ingestCors } from "./cors";
import { API_REFERENCE_CSP, apiReferencePage, openApiDocument } from "./openapi";
import { Failure, toHttp, type AppError } from "./errors";
import { invitations } from "./invitations";
import { authHandler } from "./membership-log";
import { runInScope } from "./request-scope";
import { events } from "./routes/events";
import { exporter } from "./routes/export";
import { keys } from "./routes/keys";
import { proofs } from "./routes/proofs";
import { rebuild } from "./routes/rebuild";
import { subjects } from "./routes/subjects";
import { retention } from "./routes/retention";
import { settings } from "./routes/settings";
import { holds } from "./routes/holds";
import { schemas } from "./routes/schemas";
import { grants } from "./routes/grants";
import { snapshots } from "./routes/snapshots";
import { sources } from "./routes/sources";
import { streams } from "./routes/streams";
import { tiles } from "./routes/tiles";
import { verification } from "./routes/verify";
import { verifierKeys } from "./routes/verifier-keys";
import { viewerPage, viewerTokens } from "./routes/viewer";
import { setSecurityHeaders } from "./security-headers";
import { tenantAccess } from "./tenant-access";

export const app = new Hono<AppEnv>();

app.use(async (c, next) => {
  c.set("requestId", c.req.header("cf-ray") ?? crypto.randomUUID());
  c.set("auth", authFor(c.env));
  // better-auth's hooks find this request's context through the scope (request-scope.ts).
  await runInScope(c, next);
  c.header("X-Request-Id", c.var.requestId);
  setSecurityHeaders(c.res.headers);
});

app.get("/healthz", (c) => c.json({ ok: true }));
app.get("/openapi.json", (c) => c.json(openApiDocument(new URL(c.req.url).origin)));
app.get("/docs/api", (c) =>
  c.html(apiReferencePage(openApiDocument(new URL(c.req.url).origin)), 200, { "content-security-policy": API_REFERENCE_CSP }),
);

app.on(["GET", "POST"], "/api/auth/*", authHandler);

app.route("/v1/keys", verifierKeys);
app.route("/v1/invitations", invitations);

app.use("/v1/tenants/:t/events", ingestCors);
app.use("/v1/tenants/:t/*", tenantAccess);
app.route("/v1/tenants/:t/events", events);
app.route("/v1/tenants/:t/keys", keys);
app.route("/v1/tenants/:t/streams", streams);
app.route("/v1/tenants/:t", proofs);
app.route("/v1/tenants/:t", snapshots);
app.route("/v1/tenants/:t", settings);
app.route("/v1/tenants/:t", holds);
app.route("/v1/tenants/:t", schemas);
app.route("/v1/tenants/:t", grants);
app.route("/v1/tenants/:t", sources);
app.route("/v1/tenants/:t", verification);
app.route("/v1/tenants/:t", exporter);
app.route("/v1/tenants/:t", rebuild);
app.route("/v1/tenants/:t", subjects);
app.route("/v1/tenants/:t", retention);
app.route("/v1/tenants/:t", viewerTokens);
// The embeddable viewer's page (issue #19.5): framed by the tenant's allowed origins only.
app.route("/embed", viewerPage);
// c2sp.org/tlog-tiles monitoring prefix: its own access rules (public logs), so not under tenantAccess.
app.route("/logs/:t", tiles);

app.notFound((c) => {
  const { status, body } = toHttp({ reason: "not_found", what: "Route" });
  return c.json(body, status);
});

app.onError((e, c) => {
  let error: AppError;
  if (e instanceof Failure) {
    error = e.error;
  } else {
    console.error(`request ${c.var.requestId} failed`, e);
    error = { reason: "internal" };
  }
  const { status, body, headers } = toHttp(error);
  return c.json(body, status, headers);
});
