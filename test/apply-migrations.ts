import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { PLACEMENT_BINDINGS } from "../src/durable/placement";

// Every database gets every migration (the control database DB is also the default shard 0).
for (const { shards } of Object.values(PLACEMENT_BINDINGS)) {
  for (const binding of shards) await applyD1Migrations(env[binding], env.TEST_MIGRATIONS);
}
