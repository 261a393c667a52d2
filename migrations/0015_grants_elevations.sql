-- Issue #19.1 and #19.2 (src/worker/grants.ts): time-bounded access for members, in the control
-- database DB. Neither table is an audit table: the log holds the record of every change
-- (sealtrail.grant.* and sealtrail.elevation.* entries); these rows are the current state.
--
-- access_grant: an admin grants a member `permissions` (read, verify) within `view` (JSON,
-- src/core/views.ts) from `starts_at` until `expires_at` (ms since the epoch). Checked on every
-- request of the member; `ended_logged_at` is set when the end was first noticed and logged.
CREATE TABLE `access_grant` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`user_id` text NOT NULL,
	`permissions` text NOT NULL,
	`view` text NOT NULL,
	`reason` text NOT NULL,
	`starts_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`created_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	`revoked_by` text,
	`ended_logged_at` integer
);
CREATE INDEX `access_grant_tenant_user` ON `access_grant` (`tenant_id`, `user_id`);
--
-- elevation: a member asks for one permission for `duration_s` seconds with a reason; an owner
-- or admin other than the requester approves (from then until `expires_at`) or refuses it.
-- `status`: requested | approved | refused | cancelled.
CREATE TABLE `elevation` (
	`id` text PRIMARY KEY NOT NULL,
	`tenant_id` text NOT NULL,
	`user_id` text NOT NULL,
	`permission` text NOT NULL,
	`duration_s` integer NOT NULL,
	`reason` text NOT NULL,
	`status` text NOT NULL,
	`requested_at` integer NOT NULL,
	`decided_by` text,
	`decided_at` integer,
	`decision_reason` text,
	`expires_at` integer,
	`ended_logged_at` integer
);
CREATE INDEX `elevation_tenant_user` ON `elevation` (`tenant_id`, `user_id`);
CREATE INDEX `elevation_tenant_status` ON `elevation` (`tenant_id`, `status`);
