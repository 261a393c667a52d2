import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signWebhook, verifyWebhook, webhookSecretKey } from "../../src/core/standard-webhooks";

// The test vector the Standard Webhooks reference libraries share (github.com/standard-webhooks/standard-webhooks).
const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS = 1614265330;
const BODY = '{"test": 2432232314}';
const SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

describe("Standard Webhooks signatures", () => {
  it("reproduce the reference test vector", () => {
    expect(signWebhook(webhookSecretKey(SECRET)!, ID, TS, BODY)).toBe(SIGNATURE);
  });

  it("equal node:crypto's HMAC-SHA256 over id.timestamp.body", () => {
    const key = webhookSecretKey(SECRET)!;
    const body = '{"ünïcode": "✓"}';
    const mac = createHmac("sha256", key).update(`x.1.${body}`).digest("base64");
    expect(signWebhook(key, "x", 1, body)).toBe(`v1,${mac}`);
  });

  it("verify within the tolerance only, against any of several signatures", () => {
    const key = webhookSecretKey(SECRET)!;
    const headers = { id: ID, timestamp: String(TS), signature: `v1,bogus ${SIGNATURE}` };
    expect(verifyWebhook(key, headers, BODY, TS + 10)).toBe(true);
    expect(verifyWebhook(key, headers, BODY, TS + 301)).toBe(false);
    expect(verifyWebhook(key, headers, `${BODY} `, TS)).toBe(false);
  });

  it("refuse secrets that are not whsec_ with 24 to 64 bytes", () => {
    expect(webhookSecretKey("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).toBeUndefined();
    expect(webhookSecretKey("whsec_c2hvcnQ=")).toBeUndefined();
    expect(webhookSecretKey("whsec_!!!")).toBeUndefined();
  });
});
