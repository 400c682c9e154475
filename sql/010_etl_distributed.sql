-- The ETL's distributed cycle (issue 12): its run records carry the shard count, the shards
-- retried on another worker, and the run's summary (JSON, as the ETL API answers it), so that
-- any ETL API replica answers from here; and the forecast settings POST /forecasting stores
-- and the next cycle's scheduler reads. Runs on MySQL 8 and MariaDB 10.11.
ALTER TABLE runs ADD COLUMN shard_count INT NULL;
ALTER TABLE runs ADD COLUMN retried_shards TEXT NULL;
ALTER TABLE runs ADD COLUMN details MEDIUMTEXT NULL;

-- One row per setting name (today only 'forecast': {"metrics": [...], "horizon_minutes": n}).
CREATE TABLE etl_settings (
    name        VARCHAR(64)  NOT NULL,
    value       TEXT         NOT NULL,
    updated_at  DATETIME(3)  NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
