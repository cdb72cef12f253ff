-- Every scoring batch content the store has seen for a pipeline: (batch id, fingerprint) of
-- claimed batches and of changed re-uploads refused as BATCH_CHANGED. The scoring DAG's sensor
-- fires only on completed batches not in this set (as known_batches does for landing).
SELECT batch_id, fingerprint FROM scoring_batches WHERE pipeline = :pipeline
UNION
SELECT batch_id, fingerprint FROM scoring_batch_conflicts WHERE pipeline = :pipeline
