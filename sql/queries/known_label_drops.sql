-- Every label drop content the store has seen for a pipeline: the labels DAG's sensor fires only
-- on completed drops not in this set (as known_batches does for landing).
SELECT drop_id AS batch_id, fingerprint FROM label_drops WHERE pipeline = :pipeline
