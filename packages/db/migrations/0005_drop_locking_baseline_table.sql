-- The write-up's lock-based design is a benchmark baseline: the benchmark creates its own table (loadtest/src/baselines).
DROP TABLE IF EXISTS `event_applications_locking`;
