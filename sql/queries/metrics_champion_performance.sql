-- The exporter's realized and estimated champion metric: the performance windows of each
-- champion's version as champion, newest last (by the scoring time they cover).
SELECT w.pipeline, w.metric, w.window_kind, w.value, w.estimated, w.scored_to, w.computed_at
FROM performance_windows w
JOIN champion c ON c.pipeline = w.pipeline AND c.model_version = w.model_version
WHERE w.role = 'champion'
ORDER BY w.pipeline, w.scored_to, w.window_key
