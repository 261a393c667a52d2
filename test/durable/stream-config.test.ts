import { describe, expect, it } from "vitest";
import { destinationUrl, destinationUrlProblem, type Destination } from "../../src/durable/stream-config";
import { retryDelayMs, STREAM_RETRY_CAP_FACTOR } from "../../src/durable/stream-delivery";

describe("stream destinations under the outbound rules (production: SEALTRAIL_LOCAL_DEV unset)", () => {
  it.each<[Destination, string | undefined]>([
    [{ type: "webhook", url: "https://hooks.example.com/in" }, undefined],
    [{ type: "webhook", url: "http://hooks.example.com/in" }, "only https: URLs"],
    [{ type: "webhook", url: "https://127.0.0.1/in" }, "the host is a loopback address"],
    [{ type: "webhook", url: "https://localhost/in" }, "the host is a local name"],
    [{ type: "splunk", url: "https://10.1.1.1:8088" }, "the host is a private address"],
    [{ type: "datadog", url: "https://169.254.169.254" }, "the host is a link-local or metadata address"],
    [
      { type: "s3", endpoint: "https://[fd00:ec2::254]", bucket: "b", region: "auto", prefix: "" },
      "the host is a private (unique local) address",
    ],
    [{ type: "s3", endpoint: "https://acct.r2.cloudflarestorage.com", bucket: "logs", region: "auto", prefix: "" }, undefined],
  ])("%j → %s", (d, problem) => {
    expect(destinationUrlProblem(d, false)).toBe(problem);
  });

  it("Splunk and Datadog paths are appended; S3 is path-style", () => {
    expect(destinationUrl({ type: "splunk", url: "https://s.example.com:8088/" })).toBe(
      "https://s.example.com:8088/services/collector/event",
    );
    expect(destinationUrl({ type: "datadog", url: "https://http-intake.logs.datadoghq.eu" })).toBe(
      "https://http-intake.logs.datadoghq.eu/api/v2/logs",
    );
    expect(destinationUrl({ type: "s3", endpoint: "https://a.example.com", bucket: "b", region: "auto", prefix: "" })).toBe(
      "https://a.example.com/b",
    );
  });
});

describe("retry backoff", () => {
  it("is full jitter: in [0, min(cap, base·2^(n−1)))", () => {
    expect(retryDelayMs(1, 1000, () => 0.999)).toBe(999);
    expect(retryDelayMs(4, 1000, () => 0.5)).toBe(4000);
    expect(retryDelayMs(30, 1000, () => 0.5)).toBe((1000 * STREAM_RETRY_CAP_FACTOR) / 2);
    expect(retryDelayMs(5, 1000, () => 0)).toBe(0);
  });
});
