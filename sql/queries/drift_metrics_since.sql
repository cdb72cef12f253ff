-- What the drift-threshold trigger and sensor read on every poll: a pipeline's drift rows
-- stored at or after a moment (UTC ISO text compares in time order), only the columns that
-- mlops_lib.drift_policy.summarise needs. Served by ix_drift_metrics_recent.
-- Not a migration: only the Alembic revisions in sql/migrations/ run sql/NNN_*.sql.
SELECT batch_id, feature, score, psi, drifted, verdict, created_at
FROM drift_metrics
WHERE pipeline = :pipeline AND created_at >= :since
ORDER BY created_at, batch_id, feature
