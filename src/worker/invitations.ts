/**
 * Invitation links carry a one-time secret (issue #13, item 10). Sealtrail sends no email, so
 * better-auth's check that the signed-in address equals the invited one proves nothing on its
 * own: anyone can sign up with any address. The link's secret is what the inviter hands to the
 * invitee; accepting needs it as well as that address.
 *
 * - The secret is made when better-auth creates the invitation (the invite hook in
 *   membership-log.ts), returned once in the invite-member answer, and stored only as its
 *   SHA-256 in D1 `invitation_secret`. better-auth's invitation rows and listings never hold it.
 * - POST /v1/invitations/:id/accept {secret} checks it, then has better-auth accept (which checks
 *   the address, that the invitation is pending and unexpired, and the member limit). better-auth's
 *   own accept-invitation route is refused (auth-routes.ts), and its accept hook refuses any
 *   acceptance this route did not check. Accepting makes the invitation no longer pending, so
 *   the same secret cannot be used twice.
 */
import { isAPIError } from "better-auth/api";
import { Hono } from "hono";
import { z } from "zod";
import { sha256Hex } from "../core/hash";
import type { AppEnv } from "./app-env";
import { Failure } from "./errors";
import { readJsonBody } from "./request";
import { requestScope } from "./request-scope";
import { bodyOf, LOG_APPEND, route } from "./route-spec";
import { refuseCrossSite } from "./tenant-access";

const ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A 32-character id like better-auth's own. */
export function newId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => ID_ALPHABET[b % ID_ALPHABET.length]).join("");
}

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

/**
 * A new invitation id and its link secret (256 random bits); stores the secret's hash. The row
 * is written before the invitation exists: should the invitation then not be created, the row
 * names nothing and can never be used.
 */
export async function issueInvitationSecret(db: D1Database): Promise<{ id: string; secret: string }> {
  const id = newId();
  const secret = base64url(crypto.getRandomValues(new Uint8Array(32)));
  await db
    .prepare("INSERT INTO invitation_secret (invitation_id, secret_hash, created_at) VALUES (?, ?, ?)")
    .bind(id, sha256Hex(secret), Date.now())
    .run();
  return { id, secret };
}

async function secretMatches(db: D1Database, invitationId: string, secret: string): Promise<boolean> {
  const row = await db
    .prepare("SELECT secret_hash FROM invitation_secret WHERE invitation_id = ?")
    .bind(invitationId)
    .first<{ secret_hash: string }>();
  return row !== null && row.secret_hash === sha256Hex(secret);
}

export const INVITATION_ROUTE = route({
  method: "post",
  path: "/v1/invitations/{id}/accept",
  summary: "Accept an invitation with its link's one-time secret, signed in as the invited address (logged)",
  access: "the signed-in person the invitation was sent to",
  body: z.strictObject({ secret: z.string().min(1).max(256) }),
  invalid: "invalid_invitation_request",
  response: z.object({ invitation: z.record(z.string(), z.unknown()), member: z.record(z.string(), z.unknown()) }),
  errors: [
    "unauthenticated",
    "cross_site_request",
    "invitation_secret_invalid",
    "invitation_not_for_you",
    "invitation_not_pending",
    "membership_limit_reached",
    ...LOG_APPEND,
  ],
});

/** better-auth's refusals of an acceptance, as ours. */
function refusal(code: string | undefined): Failure | null {
  switch (code) {
    case "YOU_ARE_NOT_THE_RECIPIENT_OF_THE_INVITATION":
      return new Failure({ reason: "invitation_not_for_you" });
    case "INVITATION_NOT_FOUND":
      return new Failure({ reason: "invitation_not_pending" });
    case "ORGANIZATION_MEMBERSHIP_LIMIT_REACHED":
      return new Failure({ reason: "membership_limit_reached" });
    default:
      return null;
  }
}

export const invitations = new Hono<AppEnv>().post("/:id/accept", async (c) => {
  const session = await c.var.auth.api.getSession({ headers: c.req.raw.headers });
  if (!session) throw new Failure({ reason: "unauthenticated" });
  refuseCrossSite(c);
  const { secret } = bodyOf(INVITATION_ROUTE, await readJsonBody(c));
  const id = c.req.param("id");
  if (!(await secretMatches(c.env.DB, id, secret))) throw new Failure({ reason: "invitation_secret_invalid" });
  requestScope().acceptedInvitationId = id;
  try {
    // better-auth checks the signed-in address, the status and expiry; its hooks record the join.
    const accepted = await c.var.auth.api.acceptInvitation({ headers: c.req.raw.headers, body: { invitationId: id } });
    return c.json(accepted);
  } catch (e) {
    if (isAPIError(e)) {
      const mapped = refusal((e.body as { code?: string } | undefined)?.code);
      if (mapped) throw mapped;
      console.error(`request ${c.var.requestId}: invitation ${id} refused by better-auth`, e);
      throw new Failure({ reason: "invitation_not_pending" });
    }
    throw e;
  }
});
