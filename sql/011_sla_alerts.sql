-- The SLA manager's webhook alerts, one row per transition, shared by every replica and
-- gunicorn worker. Runs on MySQL 8 and MariaDB 10.11.
--
-- `transition` names what changed (a SHA-256 of the alert name, the SLA metric, the series
-- and what marks the change: a violation episode's start, or the assessment a forecast
-- became likely after). Its unique key with `sla_id` lets exactly one replica insert a
-- transition: the one whose `claim` the row carries sends it. `lease_until` is how long
-- that claimant has to deliver; an unsent row past its lease is claimed again (an UPDATE
-- only one can win) by the elected assessment leader, so a failed or interrupted send is
-- retried, not lost. `sent_at` is set once the receiver answered 2xx.
CREATE TABLE IF NOT EXISTS sla_alerts (
    alert_id     BIGINT      NOT NULL AUTO_INCREMENT,
    sla_id       BIGINT      NOT NULL,
    transition   CHAR(64)    NOT NULL,
    created_at   DATETIME(3) NOT NULL,
    alert        MEDIUMTEXT  NOT NULL,
    claim        CHAR(32)    NOT NULL,
    lease_until  DATETIME(3) NOT NULL,
    attempts     INT         NOT NULL DEFAULT 1,
    sent_at      DATETIME(3) NULL,
    PRIMARY KEY (alert_id),
    UNIQUE KEY sla_alerts_transition (sla_id, transition),
    KEY sla_alerts_claim (claim),
    KEY sla_alerts_unsent (sent_at, lease_until),
    KEY sla_alerts_age (created_at),
    CONSTRAINT sla_alerts_sla FOREIGN KEY (sla_id) REFERENCES slas (sla_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
