-- The exporter's counts per pipeline and one label: drift crossings, decisions by outcome,
-- quarantined batches not accepted since (by a replay), open alerts by kind.
SELECT 'drift_crossings' AS what, pipeline, '' AS label, COUNT(*) AS n
FROM drift_crossings GROUP BY pipeline
UNION ALL
SELECT 'decisions', pipeline, decision, COUNT(*) FROM decisions GROUP BY pipeline, decision
UNION ALL
SELECT 'quarantined', q.pipeline, '', COUNT(*) FROM quarantine q
JOIN batches b ON b.pipeline = q.pipeline AND b.batch_id = q.batch_id
WHERE b.status = 'rejected' GROUP BY q.pipeline
UNION ALL
SELECT 'open_alerts', pipeline, kind, COUNT(*) FROM alerts WHERE resolved_at IS NULL
GROUP BY pipeline, kind
UNION ALL
SELECT 'undecided_runs', r.pipeline, '', COUNT(*) FROM training_runs r
WHERE r.model_version IS NOT NULL AND NOT EXISTS (SELECT 1 FROM decisions d
  WHERE d.pipeline = r.pipeline AND d.dag_run_id = r.dag_run_id)
GROUP BY r.pipeline
