-- Prediction drift and calibration drift of each performance window, against what its model
-- version predicted on its own holdout (mlops_lib/monitoring/prediction_drift.py): JSON
-- {"prediction": {psi, ks_statistic, ks_pvalue, mean_holdout, mean_batch, ...},
--  "calibration": {ece_holdout, ece_window, shift, rows}}; "{}" when the version kept no
-- holdout scores. Run by Alembic revision 0014_window_drift.
ALTER TABLE performance_windows ADD COLUMN drift_json TEXT NOT NULL DEFAULT '{}';
