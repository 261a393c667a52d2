-- Issue #17: retention. The one deletion path of the audit tables is a retention floor per
-- tenant (docs/design.md invariant 4): rows below it may be deleted, by the retention sweep
-- only (src/durable/retention.ts); every row at or above it, and every row of a tenant without
-- a floor, stays undeletable. The floor only rises: one row per rise, never updated or deleted,
-- never lower than a floor already there. A tenant's floor is max(floor) of its rows.
CREATE TABLE `retention_floor` (
	`tenant_id` text NOT NULL,
	`floor` integer NOT NULL,
	`set_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `floor`)
);
--> statement-breakpoint
CREATE TRIGGER retention_floor_no_update BEFORE UPDATE ON retention_floor
BEGIN SELECT RAISE(ABORT, 'retention_floor is insert-only'); END;
--> statement-breakpoint
CREATE TRIGGER retention_floor_no_delete BEFORE DELETE ON retention_floor
BEGIN SELECT RAISE(ABORT, 'retention_floor is insert-only'); END;
--> statement-breakpoint
-- A floor never goes down. The same floor again is a repeat (a sweep resumed after a crash):
-- the row is skipped (RAISE(IGNORE)), so neither INSERT OR REPLACE nor an UPSERT can change it.
CREATE TRIGGER retention_floor_only_rises BEFORE INSERT ON retention_floor
WHEN NEW.floor < 0 OR NEW.floor < (SELECT coalesce(max(floor), 0) FROM retention_floor WHERE tenant_id = NEW.tenant_id)
BEGIN SELECT RAISE(ABORT, 'retention_floor only rises'); END;
--> statement-breakpoint
CREATE TRIGGER retention_floor_no_replace BEFORE INSERT ON retention_floor
WHEN EXISTS (SELECT 1 FROM retention_floor WHERE tenant_id = NEW.tenant_id AND floor = NEW.floor)
BEGIN SELECT RAISE(IGNORE); END;
--> statement-breakpoint
-- The DELETE refusals of 0001, narrowed to the floor: a DELETE of a row at or above its
-- tenant's floor (or of any row of a tenant without one) still aborts. UPDATEs stay refused
-- (0001's audit_events_no_update and audit_event_targets_no_update are untouched).
DROP TRIGGER audit_events_no_delete;
--> statement-breakpoint
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN OLD.seq >= (SELECT coalesce(max(floor), 0) FROM retention_floor WHERE tenant_id = OLD.tenant_id)
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only above the retention floor'); END;
--> statement-breakpoint
DROP TRIGGER audit_event_targets_no_delete;
--> statement-breakpoint
CREATE TRIGGER audit_event_targets_no_delete BEFORE DELETE ON audit_event_targets
WHEN OLD.seq >= (SELECT coalesce(max(floor), 0) FROM retention_floor WHERE tenant_id = OLD.tenant_id)
BEGIN SELECT RAISE(ABORT, 'audit_event_targets is append-only above the retention floor'); END;
