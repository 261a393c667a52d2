-- Issue #15: where each tenant's data lives (docs/design.md "Shards and jurisdictions"). Read
-- from the control database (DB); every database gets every migration, so the shards hold an
-- empty copy. One row per tenant, written when the tenant is created, before its organization
-- row (src/worker/placement.ts `placeNewTenant`), and never changed: moving a tenant is a
-- separate procedure (docs/design.md "Moving a tenant"), not an UPDATE.
CREATE TABLE `tenant_placement` (
	`tenant_id` text PRIMARY KEY NOT NULL,
	`jurisdiction` text NOT NULL,
	`shard` integer NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `tenant_placement_shard` ON `tenant_placement` (`jurisdiction`, `shard`);
--> statement-breakpoint
-- Backfill: every tenant that exists already has its rows in the control database, which is
-- the default jurisdiction's shard 0. (A tenant created by the previous Worker after this runs
-- has no row, which means the same place.)
INSERT INTO `tenant_placement` (`tenant_id`, `jurisdiction`, `shard`, `created_at`)
SELECT `id`, 'default', 0, CAST(unixepoch('subsec') * 1000 AS INTEGER) FROM `organization`;
--> statement-breakpoint
CREATE TRIGGER tenant_placement_no_update BEFORE UPDATE ON tenant_placement
BEGIN SELECT RAISE(ABORT, 'tenant_placement is insert-only'); END;
--> statement-breakpoint
CREATE TRIGGER tenant_placement_no_delete BEFORE DELETE ON tenant_placement
BEGIN SELECT RAISE(ABORT, 'tenant_placement is insert-only'); END;
