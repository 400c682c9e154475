-- SLAs (versioned by name), their metrics with allowed ranges, and the stored assessments.
-- Runs on MySQL 8 and MariaDB 10.11. Re-defining a name retires the current version:
-- `current_name` equals `name` while a version is current and is NULL once it is retired,
-- so the unique key allows one current version per name and any number of retired ones.

CREATE TABLE slas (
    sla_id        BIGINT       NOT NULL AUTO_INCREMENT,
    name          VARCHAR(100) NOT NULL,
    version       INT          NOT NULL,
    current_name  VARCHAR(100) NULL,
    created_at    DATETIME(3)  NOT NULL,
    retired_at    DATETIME(3)  NULL,
    PRIMARY KEY (sla_id),
    UNIQUE KEY slas_name_version (name, version),
    UNIQUE KEY slas_current (current_name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One objective of an SLA. `promql` is the query resolved when the SLA was defined
-- (the selector plus metric and labels, or the expression), so a later change of the
-- selector setting does not silently change what an existing SLA means.
CREATE TABLE sla_metrics (
    sla_id      BIGINT       NOT NULL,
    position    SMALLINT     NOT NULL,
    name        VARCHAR(200) NOT NULL,
    metric      VARCHAR(200) NULL,
    labels      TEXT         NULL,
    expression  TEXT         NULL,
    promql      TEXT         NOT NULL,
    min_value   DOUBLE       NULL,
    max_value   DOUBLE       NULL,
    PRIMARY KEY (sla_id, position),
    CONSTRAINT sla_metrics_sla FOREIGN KEY (sla_id) REFERENCES slas (sla_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One assessment of one SLA: past violations per metric, series and window, and the
-- predicted ones, as the JSON the API returns. `window_end` is the aligned end time of
-- the range query the numbers come from.
CREATE TABLE sla_assessments (
    assessment_id  BIGINT      NOT NULL AUTO_INCREMENT,
    sla_id         BIGINT      NOT NULL,
    assessed_at    DATETIME(3) NOT NULL,
    window_end     DATETIME(3) NOT NULL,
    result         MEDIUMTEXT  NOT NULL,
    PRIMARY KEY (assessment_id),
    KEY sla_assessments_latest (sla_id, assessment_id),
    KEY sla_assessments_age (assessed_at),
    CONSTRAINT sla_assessments_sla FOREIGN KEY (sla_id) REFERENCES slas (sla_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
