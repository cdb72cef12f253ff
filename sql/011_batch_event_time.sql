-- The day a batch's data belongs to, when its folder name says (a date partition such as
-- `dt=2026-11-01/`; spec source.partition_date), as UTC ISO-8601 text like arrived_at. Null:
-- the name has none, and the batch's data time is its arrival. A backfill selects the batches
-- of its interval by COALESCE(event_time, arrived_at): history uploaded today still belongs to
-- its own days.
-- Run by Alembic revision 0011_batch_event_time.
ALTER TABLE batches ADD COLUMN event_time VARCHAR(32);
CREATE INDEX IF NOT EXISTS ix_batches_event_time ON batches (pipeline, event_time);
