CREATE TABLE `verification_reports` (
	`tenant_id` text NOT NULL,
	`job_id` text NOT NULL,
	`mode` text NOT NULL,
	`ok` integer NOT NULL,
	`failures` integer NOT NULL,
	`report` text NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`tenant_id`, `job_id`)
);
--> statement-breakpoint
CREATE INDEX `verification_reports_created` ON `verification_reports` (`tenant_id`,`created_at`);