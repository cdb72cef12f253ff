-- Batch ids up to 1024 characters. A batch id is the batch's folder name under the spec's
-- prefix, and an S3 key may be 1024 bytes, but 001-005 declared `batch_id VARCHAR(512)`: on
-- PostgreSQL a longer id failed register_batch with a database error instead of being handled.
-- PostgreSQL only (the `.postgresql.sql` suffix, see mlops_lib.stores.sql_files): SQLite
-- does not enforce VARCHAR lengths, nor can it ALTER a column's type. Widening a VARCHAR is a
-- catalog change on PostgreSQL: no table rewrite, no index rebuild.
-- training_runs.batch_id holds the dataset key: a batch id, or `set-<digest>` for several.

ALTER TABLE batches ALTER COLUMN batch_id TYPE VARCHAR(1024);
ALTER TABLE quarantine ALTER COLUMN batch_id TYPE VARCHAR(1024);
ALTER TABLE training_runs ALTER COLUMN batch_id TYPE VARCHAR(1024);
ALTER TABLE drift_metrics ALTER COLUMN batch_id TYPE VARCHAR(1024);
ALTER TABLE training_batches ALTER COLUMN batch_id TYPE VARCHAR(1024);
ALTER TABLE batch_conflicts ALTER COLUMN batch_id TYPE VARCHAR(1024);
ALTER TABLE drift_crossings ALTER COLUMN batch_id TYPE VARCHAR(1024);
