-- The newest event time of a batch's rows, beside `event_time` (then the oldest), when the spec
-- names the data's time column (a feature with role event_time, or training.window's
-- event_time column), or the manifest states the span. Null: the batch's data time is the
-- day of its date partition (event_time), else its arrival. Training windows and backfills
-- select by this span: rows belong to when they happened, not to when they landed.
-- Run by Alembic revision 0015_batch_event_span.
ALTER TABLE batches ADD COLUMN event_time_end VARCHAR(32);
