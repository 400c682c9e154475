-- The results the ETL publishes, one table per kind, history kept per run.
-- Runs on MySQL 8 and MariaDB 10.11. Every primary key is the natural key of one result
-- (series, run, window, and for forecasts the aggregate and the timestamp), so data_storage
-- writes each row with INSERT ... ON DUPLICATE KEY UPDATE and a redelivered message changes
-- nothing. The key starts with series_id, run_id: "does run R have rows for series S" and
-- "the rows of series S in run R" are both prefix lookups. Run-level timings use series_id
-- '' and window_name '' (a NULL in a unique key would not be unique).

-- The latest complete run: walk runs newest first among the complete ones.
CREATE INDEX runs_status_started ON runs (status, started_at);

CREATE TABLE statistics (
    series_id     CHAR(16)     NOT NULL,
    run_id        VARCHAR(36)  NOT NULL,
    window_name   VARCHAR(8)   NOT NULL,
    computed_at   DATETIME(6)  NOT NULL,
    start_at      DATETIME(6)  NOT NULL,
    end_at        DATETIME(6)  NOT NULL,
    sample_count  INT          NOT NULL,
    max_value     DOUBLE       NULL,
    min_value     DOUBLE       NULL,
    mean_value    DOUBLE       NULL,
    std_value     DOUBLE       NULL,
    p50           DOUBLE       NULL,
    p95           DOUBLE       NULL,
    p99           DOUBLE       NULL,
    reason        VARCHAR(255) NULL,
    PRIMARY KEY (series_id, run_id, window_name),
    KEY statistics_run (run_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- lags: JSON array of the ACF at lags 1..k (TEXT: MySQL's JSON type is not MariaDB's).
CREATE TABLE autocorrelation (
    series_id     CHAR(16)     NOT NULL,
    run_id        VARCHAR(36)  NOT NULL,
    window_name   VARCHAR(8)   NOT NULL,
    computed_at   DATETIME(6)  NOT NULL,
    lags          MEDIUMTEXT   NULL,
    reason        VARCHAR(255) NULL,
    PRIMARY KEY (series_id, run_id, window_name),
    KEY autocorrelation_run (run_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

CREATE TABLE stationarity (
    series_id     CHAR(16)     NOT NULL,
    run_id        VARCHAR(36)  NOT NULL,
    window_name   VARCHAR(8)   NOT NULL,
    computed_at   DATETIME(6)  NOT NULL,
    statistic     DOUBLE       NULL,
    p_value       DOUBLE       NULL,
    used_lag      INT          NULL,
    nobs          INT          NULL,
    critical_1    DOUBLE       NULL,
    critical_5    DOUBLE       NULL,
    critical_10   DOUBLE       NULL,
    stationary    TINYINT(1)   NULL,
    reason        VARCHAR(255) NULL,
    PRIMARY KEY (series_id, run_id, window_name),
    KEY stationarity_run (run_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- seasonal: JSON array, one period of the additive seasonal component.
CREATE TABLE seasonality (
    series_id      CHAR(16)     NOT NULL,
    run_id         VARCHAR(36)  NOT NULL,
    window_name    VARCHAR(8)   NOT NULL,
    computed_at    DATETIME(6)  NOT NULL,
    period_minutes DOUBLE       NULL,
    method         VARCHAR(64)  NULL,
    strength       DOUBLE       NULL,
    seasonal       MEDIUMTEXT   NULL,
    reason         VARCHAR(255) NULL,
    PRIMARY KEY (series_id, run_id, window_name),
    KEY seasonality_run (run_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per forecast point.
CREATE TABLE forecasts (
    series_id     CHAR(16)     NOT NULL,
    run_id        VARCHAR(36)  NOT NULL,
    window_name   VARCHAR(8)   NOT NULL,
    aggregate     VARCHAR(8)   NOT NULL,
    ts            DATETIME(6)  NOT NULL,
    value         DOUBLE       NOT NULL,
    lower_80      DOUBLE       NULL,
    upper_80      DOUBLE       NULL,
    lower_95      DOUBLE       NULL,
    upper_95      DOUBLE       NULL,
    PRIMARY KEY (series_id, run_id, window_name, aggregate, ts),
    KEY forecasts_run (run_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row per forecast (series, run, window, aggregate): the model and its held-out error.
CREATE TABLE forecast_errors (
    series_id      CHAR(16)     NOT NULL,
    run_id         VARCHAR(36)  NOT NULL,
    window_name    VARCHAR(8)   NOT NULL,
    aggregate      VARCHAR(8)   NOT NULL,
    computed_at    DATETIME(6)  NOT NULL,
    model          VARCHAR(64)  NULL,
    period_buckets INT          NULL,
    bucket_seconds INT          NOT NULL,
    point_count    INT          NOT NULL,
    holdout_mae    DOUBLE       NULL,
    holdout_mase   DOUBLE       NULL,
    reason         VARCHAR(255) NULL,
    PRIMARY KEY (series_id, run_id, window_name, aggregate),
    KEY forecast_errors_run (run_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- Seconds per ETL stage; series_id '' and window_name '' for the whole run.
CREATE TABLE timings (
    series_id     CHAR(16)     NOT NULL,
    run_id        VARCHAR(36)  NOT NULL,
    window_name   VARCHAR(8)   NOT NULL,
    stage         VARCHAR(64)  NOT NULL,
    computed_at   DATETIME(6)  NOT NULL,
    seconds       DOUBLE       NOT NULL,
    PRIMARY KEY (series_id, run_id, window_name, stage),
    KEY timings_run (run_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4
