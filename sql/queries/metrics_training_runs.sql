-- The exporter's ct_training_runs_total: training runs per pipeline and trigger type (the
-- `type` of the run's recorded trigger). SQLite's JSON1; PostgreSQL has its own file.
SELECT pipeline, json_extract(trigger_json, '$.type') AS trigger_type, COUNT(*) AS n
FROM training_runs
GROUP BY pipeline, json_extract(trigger_json, '$.type')
