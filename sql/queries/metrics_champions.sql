-- The exporter's champion gauges: each champion, with the holdout value of the decisions that
-- judged its version (newest last: the caller keeps the newest promote, else the newest one).
SELECT c.pipeline, c.model_version, c.updated_at, d.metric, d.candidate_value, d.decision,
       d.created_at AS decided_at
FROM champion c
LEFT JOIN decisions d ON d.pipeline = c.pipeline AND d.candidate_version = c.model_version
ORDER BY c.pipeline, d.created_at
