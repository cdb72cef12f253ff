-- Drift verdicts that know their sample size (issue 17 §5; mlops_lib/monitoring/drift_noise.py).
-- `verdict`: drifted | not_drifted | insufficient_data (fewer non-null values than the policy's
-- min_rows_per_test: statistics NULL, never drifted) | not_compared (no values); NULL on rows
-- stored before. `noise_floor`: the statistic's 0.99 quantile on same-sized resamples of the
-- reference (the score had to reach max(threshold, noise_floor)); `n_current`: non-null values
-- of the batch compared. Run by Alembic revision 0016_drift_sample_size.
ALTER TABLE drift_metrics ADD COLUMN verdict VARCHAR(24);
ALTER TABLE drift_metrics ADD COLUMN noise_floor DOUBLE PRECISION;
ALTER TABLE drift_metrics ADD COLUMN n_current INTEGER;
