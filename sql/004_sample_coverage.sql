-- The raw samples of each statistics row in time (issue 11): the scrape interval learned
-- from their spacing, the gaps (spacings over 1.5 intervals) and the samples they miss,
-- the longest gap, and when the series ended inside the window (NULL: it did not).
-- NULL in rows written before this migration.
ALTER TABLE statistics
    ADD COLUMN interval_seconds     DOUBLE      NULL,
    ADD COLUMN gap_count            INT         NULL,
    ADD COLUMN missing_samples      INT         NULL,
    ADD COLUMN longest_gap_seconds  DOUBLE      NULL,
    ADD COLUMN ended_at             DATETIME(6) NULL;
