-- Issue #13: an invitation link carries a one-time secret; only its SHA-256 is stored here
-- (src/worker/invitations.ts). One row per invitation, written just before better-auth creates
-- the invitation (a row whose invitation was never created names nothing and is never used).
CREATE TABLE `invitation_secret` (
	`invitation_id` text PRIMARY KEY NOT NULL,
	`secret_hash` text NOT NULL,
	`created_at` integer NOT NULL
);
