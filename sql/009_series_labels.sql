-- The read side for 100,000 series (issue 12): every label of every series as a row, so that
-- "the series of metric M with label.a=x and label.b=y" is an index seek instead of reading
-- every series of M and filtering its JSON labels in Python. Runs on MySQL 8 and MariaDB 10.11.
--
-- value_hash is SHA-256 of the value's UTF-8 bytes (data_storage.rows.label_rows computes the
-- same): a fixed-width, byte-exact key, where the value itself (up to 64 KiB, compared under
-- PAD SPACE collations) could be neither indexed whole nor compared exactly. `metric` repeats
-- series.metric (a series id is a hash of metric and labels, so it never changes) so that
-- series_labels_match answers both "metric M and label a=x" and "label a=x, any metric" in
-- the read API's page order (metric, series_id), stopping after one page.
CREATE TABLE series_labels (
    series_id   CHAR(16)     NOT NULL,
    name        VARCHAR(255) COLLATE utf8mb4_bin NOT NULL,
    value_hash  BINARY(32)   NOT NULL,
    metric      VARCHAR(255) NOT NULL,
    value       TEXT         COLLATE utf8mb4_bin NOT NULL,
    PRIMARY KEY (series_id, name),
    KEY series_labels_match (name, value_hash, metric, series_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The labels of the series stored before this migration, from their JSON (JSON_TABLE: MySQL
-- 8.0.4+, MariaDB 10.6+): the object's keys and its values, paired by position (both functions
-- read the one parsed object in the same order; a path built from a key would not find keys
-- stored \u-escaped on MariaDB). An upsert, so that a rerun after an interruption, or rows the
-- storage wrote meanwhile, change nothing.
INSERT INTO series_labels (series_id, name, value_hash, metric, value)
SELECT s.series_id, k.name, UNHEX(SHA2(v.value, 256)), s.metric, v.value
FROM series s
CROSS JOIN JSON_TABLE(JSON_KEYS(s.labels), '$[*]'
    COLUMNS (n FOR ORDINALITY, name VARCHAR(255) PATH '$')) k
CROSS JOIN JSON_TABLE(JSON_EXTRACT(s.labels, '$.*'), '$[*]'
    COLUMNS (n FOR ORDINALITY, value TEXT PATH '$')) v
WHERE v.n = k.n
ON DUPLICATE KEY UPDATE value_hash = VALUES(value_hash);
