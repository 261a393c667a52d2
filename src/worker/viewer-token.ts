/**
 * Viewer tokens (issue #19.5; docs/design.md "Viewer tokens"): short-lived, signed, read-only
 * credentials a tenant's backend mints for its own customers' embedded viewer.
 *
 *   stv1.<payload>.<signature>
 *
 * `payload` is base64url (no padding) of the UTF-8 JSON
 * `{"tid":<token id>,"t":<tenant>,"view":<View>,"iat":<s>,"exp":<s>,"by":<minting key or user id>}`;
 * `signature` is base64url of HMAC-SHA256 over the ASCII text `stv1.<payload>`, under a 32-byte
 * key derived with HKDF-SHA256 from the deployment secret SEALTRAIL_SIGNING_SECRET (salt
 * `VIEWER_TOKEN_SALT`, info `stv1`). Any change to any byte breaks the signature; the view,
 * tenant and expiry are read only from a verified payload. A token lives at most
 * `VIEWER_TOKEN_MAX_TTL_SECONDS`.
 */
import { utf8 } from "../core/bytes";
import { checkView, type View } from "../core/views";

export const VIEWER_TOKEN_PREFIX = "stv1.";
export const VIEWER_TOKEN_MAX_TTL_SECONDS = 3600;
export const VIEWER_TOKEN_SALT = "sealtrail viewer token";

export interface ViewerClaims {
  tid: string;
  t: string;
  view: View;
  iat: number;
  exp: number;
  by: string;
}

export type TokenCheck = { ok: true; claims: ViewerClaims } | { ok: false; why: "malformed" | "signature" | "expired" };

const TOKEN = /^stv1\.([A-Za-z0-9_-]{1,4096})\.([A-Za-z0-9_-]{43})$/;

const b64url = (bytes: Uint8Array): string => {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
};

function fromB64url(s: string): Uint8Array | undefined {
  try {
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
  } catch {
    return undefined;
  }
}

/** The HMAC key of a deployment secret, derived once per isolate. */
const keys = new Map<string, Promise<CryptoKey>>();
function hmacKey(secret: string): Promise<CryptoKey> {
  let key = keys.get(secret);
  if (!key) {
    key = (async () => {
      const ikm = await crypto.subtle.importKey("raw", utf8(secret), "HKDF", false, ["deriveKey"]);
      return crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: utf8(VIEWER_TOKEN_SALT), info: utf8("stv1") },
        ikm,
        { name: "HMAC", hash: "SHA-256", length: 256 },
        false,
        ["sign", "verify"],
      );
    })();
    keys.set(secret, key);
  }
  return key;
}

export const isViewerToken = (s: string): boolean => s.startsWith(VIEWER_TOKEN_PREFIX);

export async function signViewerToken(secret: string, claims: ViewerClaims): Promise<string> {
  const signed = `${VIEWER_TOKEN_PREFIX}${b64url(utf8(JSON.stringify(claims)))}`;
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(secret), utf8(signed)));
  return `${signed}.${b64url(mac)}`;
}

/** The token's claims if its signature holds and it has not expired at `nowMs`. */
export async function verifyViewerToken(secret: string, token: string, nowMs: number): Promise<TokenCheck> {
  const m = TOKEN.exec(token);
  const mac = m ? fromB64url(m[2]!) : undefined;
  if (!m || !mac || mac.length !== 32) return { ok: false, why: "malformed" };
  // crypto.subtle.verify compares in constant time.
  const valid = await crypto.subtle.verify("HMAC", await hmacKey(secret), mac, utf8(`${VIEWER_TOKEN_PREFIX}${m[1]}`));
  if (!valid) return { ok: false, why: "signature" };
  let claims: ViewerClaims;
  try {
    const raw = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromB64url(m[1]!))) as Record<
      string,
      unknown
    >;
    const view = checkView(raw.view);
    const fields = typeof raw.tid === "string" && typeof raw.t === "string" && typeof raw.by === "string";
    if (!view.ok || !fields || !Number.isSafeInteger(raw.iat) || !Number.isSafeInteger(raw.exp)) return { ok: false, why: "malformed" };
    claims = {
      tid: raw.tid as string,
      t: raw.t as string,
      view: view.view,
      iat: raw.iat as number,
      exp: raw.exp as number,
      by: raw.by as string,
    };
  } catch {
    return { ok: false, why: "malformed" };
  }
  // Signed by us, so never longer than the maximum; checked anyway (a changed maximum, a bug).
  if (claims.exp - claims.iat > VIEWER_TOKEN_MAX_TTL_SECONDS) return { ok: false, why: "malformed" };
  if (nowMs >= claims.exp * 1000) return { ok: false, why: "expired" };
  return { ok: true, claims };
}
