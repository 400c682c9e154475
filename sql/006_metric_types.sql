-- What each series is and how it was analysed (issue 15): its type and what decided it
-- (Prometheus' metadata or its name), raw or as a per-second rate, and the domain its
-- forecasts keep to (free, non_negative, unit_interval, percent) with what decided that.
-- NULL in rows written before this migration.
ALTER TABLE statistics
    ADD COLUMN metric_type    VARCHAR(64) NULL,
    ADD COLUMN type_source    VARCHAR(64) NULL,
    ADD COLUMN transform      VARCHAR(16) NULL,
    ADD COLUMN domain         VARCHAR(64) NULL,
    ADD COLUMN domain_source  VARCHAR(64) NULL;
ALTER TABLE forecast_errors
    ADD COLUMN domain         VARCHAR(64) NULL;
