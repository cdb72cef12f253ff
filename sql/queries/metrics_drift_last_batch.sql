-- The exporter's drift gauges: the drift rows of each pipeline's newest monitored batch (a
-- batch's rows are stored at one moment, so the newest moment names it).
SELECT m.pipeline, m.batch_id, m.feature, m.score, m.psi, m.drifted, m.verdict, m.created_at
FROM drift_metrics m
JOIN (SELECT pipeline, MAX(created_at) AS last_at FROM drift_metrics GROUP BY pipeline) l
  ON l.pipeline = m.pipeline AND l.last_at = m.created_at
