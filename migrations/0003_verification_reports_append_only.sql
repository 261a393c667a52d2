-- Verification reports are records too: no UPDATE, no DELETE.
CREATE TRIGGER verification_reports_no_update BEFORE UPDATE ON verification_reports
BEGIN SELECT RAISE(ABORT, 'verification_reports is append-only'); END;
--> statement-breakpoint
CREATE TRIGGER verification_reports_no_delete BEFORE DELETE ON verification_reports
BEGIN SELECT RAISE(ABORT, 'verification_reports is append-only'); END;
