-- Issue #19.4: full-text search over a tenant's events (`q=`), SQLite FTS5 in the tenant's D1 shard.
-- `search_index` is contentless (content=''): it holds the index of each entry's searchable text
-- (actor name, target names, action, metadata values: src/durable/search-index.ts
-- `indexableText`), never a copy of the text, so the entry bytes in audit_events stay the only
-- copy. contentless_delete=1 lets INSERT OR REPLACE re-index an entry (the mirror retried, a
-- rebuild, a field erased since): the index is derived data, rebuilt from the log by
-- POST /rebuild, and not under the append-only rule of audit_events.
-- rowid = tenant number × 2^40 + seq: each tenant of the shard owns one rowid range, so a query
-- is a MATCH plus a rowid range (no tenant column to filter afterwards), and cursor order is
-- rowid order. The tenant numbers are append-only: a number that changed would point one
-- tenant's index at another's entries.
CREATE TABLE `search_tenants` (
	`num` integer PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `search_tenants_tenant` ON `search_tenants` (`tenant_id`);
--> statement-breakpoint
CREATE TRIGGER search_tenants_no_update BEFORE UPDATE ON search_tenants
BEGIN SELECT RAISE(ABORT, 'search_tenants is append-only'); END;
--> statement-breakpoint
CREATE TRIGGER search_tenants_no_delete BEFORE DELETE ON search_tenants
BEGIN SELECT RAISE(ABORT, 'search_tenants is append-only'); END;
--> statement-breakpoint
CREATE VIRTUAL TABLE `search_index` USING fts5(body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');
