-- An SLA's own forecast horizon in minutes (1-60): how far ahead its predicted violations look.
-- NULL: the SLA manager's default (SLA_HORIZON_MINUTES). Runs on MySQL 8 and MariaDB 10.11;
-- the sla role already has SELECT, INSERT, UPDATE on `slas`.

ALTER TABLE slas ADD COLUMN horizon_minutes SMALLINT NULL;
