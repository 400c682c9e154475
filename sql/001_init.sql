-- The runs of the ETL pipeline and the identity of every series it has seen.
-- Runs on MySQL 8 and MariaDB 10.11. `window` is reserved in MySQL 8: columns say window_name.

CREATE TABLE runs (
    run_id        CHAR(36)     NOT NULL,
    started_at    DATETIME(3)  NOT NULL,
    finished_at   DATETIME(3)  NULL,
    status        VARCHAR(16)  NOT NULL,
    series_count  INT          NOT NULL DEFAULT 0,
    message_count INT          NOT NULL DEFAULT 0,
    summary       TEXT         NULL,
    PRIMARY KEY (run_id),
    KEY runs_started (started_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- A series is a metric name plus one label set; series_id is a stable hash of both
-- (monitoring_core.messages.series_id), so the same series keeps its id across runs.
CREATE TABLE series (
    series_id    CHAR(16)     NOT NULL,
    metric       VARCHAR(255) NOT NULL,
    labels       TEXT         NOT NULL,
    first_seen   DATETIME(3)  NOT NULL,
    last_seen    DATETIME(3)  NOT NULL,
    last_run_id  CHAR(36)     NULL,
    PRIMARY KEY (series_id),
    KEY series_metric (metric)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
