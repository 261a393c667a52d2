-- Issue #13. Verification runs record the range they checked: full, incremental and range
-- runs are told apart (reports written before this migration have NULL here).
ALTER TABLE `verification_reports` ADD `from_seq` integer;--> statement-breakpoint
ALTER TABLE `verification_reports` ADD `to_seq` integer;--> statement-breakpoint
-- Invariant 4, continued: a row, once written, is never replaced. INSERT OR REPLACE and REPLACE
-- INTO delete the conflicting row without firing the DELETE triggers of 0001 (recursive_triggers
-- is off), and an UPSERT would update it: every INSERT that meets an existing primary or unique
-- key aborts here, before any conflict clause applies. An identical row is skipped instead
-- (RAISE(IGNORE) drops that row only), so repeating an INSERT of the same bytes, as the D1 mirror
-- does after a lost reply, stays idempotent.
CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events
WHEN EXISTS (SELECT 1 FROM audit_events WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq)
  OR (NEW.idempotency_key IS NOT NULL
      AND EXISTS (SELECT 1 FROM audit_events WHERE tenant_id = NEW.tenant_id AND idempotency_key = NEW.idempotency_key))
BEGIN
  SELECT RAISE(IGNORE) FROM audit_events
   WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq AND entry = NEW.entry AND leaf_hash = NEW.leaf_hash
     AND received_at = NEW.received_at AND occurred_at IS NEW.occurred_at AND action = NEW.action
     AND actor_id = NEW.actor_id AND actor_type = NEW.actor_type AND outcome = NEW.outcome
     AND idempotency_key IS NEW.idempotency_key;
  SELECT RAISE(ABORT, 'audit_events is append-only: a row with this key exists');
END;
--> statement-breakpoint
CREATE TRIGGER audit_event_targets_no_replace BEFORE INSERT ON audit_event_targets
WHEN EXISTS (SELECT 1 FROM audit_event_targets WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq AND position = NEW.position)
BEGIN
  SELECT RAISE(IGNORE) FROM audit_event_targets
   WHERE tenant_id = NEW.tenant_id AND seq = NEW.seq AND position = NEW.position
     AND target_id = NEW.target_id AND target_type = NEW.target_type;
  SELECT RAISE(ABORT, 'audit_event_targets is append-only: a row with this key exists');
END;
--> statement-breakpoint
CREATE TRIGGER verification_reports_no_replace BEFORE INSERT ON verification_reports
WHEN EXISTS (SELECT 1 FROM verification_reports WHERE tenant_id = NEW.tenant_id AND job_id = NEW.job_id)
BEGIN
  SELECT RAISE(IGNORE) FROM verification_reports
   WHERE tenant_id = NEW.tenant_id AND job_id = NEW.job_id AND mode = NEW.mode AND ok = NEW.ok
     AND failures = NEW.failures AND report = NEW.report AND created_at = NEW.created_at
     AND from_seq IS NEW.from_seq AND to_seq IS NEW.to_seq;
  SELECT RAISE(ABORT, 'verification_reports is append-only: this run has a report');
END;
