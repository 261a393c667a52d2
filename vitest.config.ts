import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

// Four projects: everything inside workerd (the Worker, the Durable Object, and the pure core);
// the witness Worker (src/witness, wrangler.witness.toml) inside workerd;
// the pure core again on plain Node, which proves it imports no runtime (with the CLI and the
// console's pure helpers); and the web console end to end in a real browser.
// Test-only secrets; real ones come from .dev.vars or `wrangler secret put`. Set in
// process.env, where the plugin looks for the secrets wrangler.toml declares as required.
const TEST_SECRETS = {
  BETTER_AUTH_SECRET: "test-secret-test-secret-test-secret-0123456789",
  SEALTRAIL_SIGNING_SECRET: "test-signing-secret-0123456789abcdef0123456789",
  SEALTRAIL_SUBJECT_KEY_SECRET: "test-subject-key-secret-0123456789abcdef012345",
};
Object.assign(process.env, TEST_SECRETS);
// The local origins the tests use (test/worker/helpers.ts BASE), whatever wrangler.toml's [vars]
// say: after `npm run deploy` they hold the deployer's production values.
const LOCAL_VARS = {
  BETTER_AUTH_URL: "http://127.0.0.1:8787",
  TRUSTED_ORIGINS: "http://localhost:8787",
  SEALTRAIL_ORIGIN: "sealtrail.localhost",
  // Local dev: witness URLs may be http: and loopback (src/durable/outbound.ts). Never in wrangler.toml.
  SEALTRAIL_LOCAL_DEV: "1",
  // Log streams retry after 4 ms × 2^n (full jitter, capped at 600 × 4 ms) instead of 1 s × 2^n, so a
  // test reaches a pause (15 failures) in seconds.
  SEALTRAIL_STREAM_RETRY_BASE_MS: "4",
};

// The witness's test configuration (test/witness): its key (ML-DSA-44, "witness.test/w1") and the
// logs it trusts: Tessera's test log (its real key), and test logs signed by test/witness/keys.ts's
// keys, under several origins so that each test has a log of its own. Also set in process.env,
// where the plugin looks for the secret wrangler.witness.toml declares as required.
const WITNESS_TEST_VARS = {
  WITNESS_PRIVATE_KEY: "PRIVATE+KEY+witness.test/w1+85fce550+Bk/toysFR/dv49Yut3EsKNj16a+RjLFxC+zcO/mWASuO",
  WITNESS_LOGS: [
    "example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx # Tessera testdata/log",
    "log.test/a+93730293+AUKuRYQV8T5iuki/5E0h88fMQ1ybintVvmZdjmTBx9MK",
    ...["conformance", "race", "same-size", "monitor", "empty", "fresh"].map(
      (o) => `log.test/${o} log.test/a+93730293+AUKuRYQV8T5iuki/5E0h88fMQ1ybintVvmZdjmTBx9MK`,
    ),
    "log.test/b log.test/b-key+b734089a+AZVqQ7DiYLlyH58Wyc+eg0+WbKnQhBKGLoCa6cFSDOiw",
  ].join("\n"),
};
Object.assign(process.env, { WITNESS_PRIVATE_KEY: WITNESS_TEST_VARS.WITNESS_PRIVATE_KEY });

// `npm run bench` sets SEALTRAIL_BENCH: the same two runtimes then run bench/*.bench.ts, which
// measure and print figures and assert nothing about time (machines here are shared and noisy).
const bench = process.env.SEALTRAIL_BENCH === "1";

export default defineConfig(async () => {
  const migrations = await readD1Migrations(new URL("./migrations", import.meta.url).pathname);
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: { TEST_MIGRATIONS: migrations, ...TEST_SECRETS, ...LOCAL_VARS },
              },
            }),
          ],
          test: {
            name: "workerd",
            include: bench
              ? ["bench/core.bench.ts", "bench/tenant-log.bench.ts", "bench/verify.bench.ts"]
              : ["test/worker/**/*.test.ts", "test/durable/**/*.test.ts", "test/core/**/*.test.ts"],
            setupFiles: ["./test/apply-migrations.ts"],
            // A real c2sp.org/tlog-witness witness on loopback, for the witnessing tests.
            // And the log streams' destinations: HTTP and HTTPS receivers, s3rver (test/streams).
            globalSetup: bench ? [] : ["./test/witness/global-setup.ts", "./test/streams/global-setup.ts"],
            testTimeout: bench ? 600_000 : 60_000,
          },
        },
        // The witness (src/witness) as its own Worker, from wrangler.witness.toml.
        ...(bench
          ? []
          : [
              {
                plugins: [
                  cloudflareTest({
                    wrangler: { configPath: "./wrangler.witness.toml" },
                    miniflare: { bindings: WITNESS_TEST_VARS },
                  }),
                ],
                test: { name: "witness", include: ["test/witness/**/*.test.ts"], testTimeout: 60_000 },
              },
            ]),
        {
          test: {
            name: "node",
            include: bench
              ? ["bench/core.bench.ts", "bench/cli.bench.ts"]
              : ["test/core/**/*.test.ts", "test/cli/**/*.test.ts", "test/console/**/*.test.ts", "test/scripts/**/*.test.ts"],
            environment: "node",
            testTimeout: 600_000,
          },
        },
        // The web console in Debian's Chromium against `wrangler dev` (test/e2e/server.ts).
        ...(bench
          ? []
          : [
              {
                test: {
                  name: "e2e",
                  include: ["test/e2e/**/*.test.ts"],
                  environment: "node",
                  testTimeout: 120_000,
                  hookTimeout: 180_000,
                  // The browser waits for pages that call the API; on a loaded 2-core machine
                  // (the other projects run alongside) a page can take seconds.
                  expect: { poll: { timeout: 20_000 } },
                },
              },
            ]),
      ],
    },
  };
});
