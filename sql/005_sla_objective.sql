-- An SLA's optional objective: the share of samples that must be in range (percent, strictly
-- between 0 and 100) over a rolling period (seconds), from which the error budget and the
-- burn rates follow. Both NULL: an SLA without objective (its ranges only). Runs on MySQL 8
-- and MariaDB 10.11; the sla role already has SELECT, INSERT, UPDATE on `slas`.

ALTER TABLE slas
    ADD COLUMN objective_percent DOUBLE NULL,
    ADD COLUMN period_seconds    INT    NULL;
