-- One metric-name rule everywhere (issue 13, monitoring_core.promql.METRIC_NAME): Prometheus'
-- grammar up to 255 characters, the width of series.metric. An SLA objective's metric, and its
-- name (the metric's when none is given), were VARCHAR(200). Runs on MySQL 8 and MariaDB 10.11.
ALTER TABLE sla_metrics
    MODIFY metric VARCHAR(255) NULL,
    MODIFY name   VARCHAR(255) NOT NULL;
