-- The validation report of an accepted batch (every check: passed or failed, observed value,
-- threshold), as `quarantine.report_json` already holds it for a rejected one. Training runs
-- copy the reports of the batches they took into their MLflow run (`validation/reports.json`).
ALTER TABLE batches ADD COLUMN report_json TEXT;
