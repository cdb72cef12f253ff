-- Every batch content the store has seen for a pipeline: (batch id, fingerprint) of recorded
-- batches and of changed re-uploads refused as BATCH_CHANGED. The S3 batch sensor fires only
-- on completed batches not in this set.
SELECT batch_id, fingerprint FROM batches WHERE pipeline = :pipeline
UNION
SELECT batch_id, fingerprint FROM batch_conflicts WHERE pipeline = :pipeline
