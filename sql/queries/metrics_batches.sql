-- The exporter's ct_batches_total: batches judged per pipeline, verdict and reason code.
SELECT pipeline, status, reason_code, COUNT(*) AS n, MAX(arrived_at) AS last_arrived_at
FROM batches
WHERE status IN ('accepted', 'rejected')
GROUP BY pipeline, status, reason_code
