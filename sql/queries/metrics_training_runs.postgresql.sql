-- The exporter's ct_training_runs_total on PostgreSQL (see metrics_training_runs.sql).
SELECT pipeline, CAST(trigger_json AS json) ->> 'type' AS trigger_type, COUNT(*) AS n
FROM training_runs
GROUP BY pipeline, CAST(trigger_json AS json) ->> 'type'
