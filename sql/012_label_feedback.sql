-- Late labels and the realized performance they reveal. Run by Alembic revision
-- 0012_label_feedback.
--
-- label_drops: the labels DAG's claim on each label drop (a folder under labels.prefix), keyed by
-- pipeline + drop id + content fingerprint: the same content again (a retry, a re-fired sensor)
-- finds its claim; other content under the same id is another drop (a correction, say). Also the
-- labels sensor's seen-set (sql/queries/known_label_drops.sql).
CREATE TABLE IF NOT EXISTS label_drops (
    pipeline     VARCHAR(64)   NOT NULL,
    drop_id      VARCHAR(1024) NOT NULL,
    fingerprint  VARCHAR(64)   NOT NULL,
    status       VARCHAR(16)   NOT NULL,  -- claimed | accepted | rejected
    reason_code  VARCHAR(64),
    rows_labelled BIGINT,
    corrections  BIGINT,
    dag_run_id   VARCHAR(250)  NOT NULL,
    claimed_at   VARCHAR(32)   NOT NULL,
    updated_at   VARCHAR(32)   NOT NULL,
    PRIMARY KEY (pipeline, drop_id, fingerprint)
);

-- One label per scored row id: the latest by labels.on_correction.
CREATE TABLE IF NOT EXISTS labels (
    pipeline    VARCHAR(64)   NOT NULL,
    row_id      VARCHAR(256)  NOT NULL,
    label       DOUBLE PRECISION NOT NULL,  -- 0/1, the class index, or the number
    event_time  VARCHAR(32),
    drop_ref    VARCHAR(1100) NOT NULL,     -- <drop id>@<fingerprint[:12]> it came from
    received_at VARCHAR(32)   NOT NULL,
    PRIMARY KEY (pipeline, row_id)
);

-- The audit of corrections: a label a later drop changed (never deleted).
CREATE TABLE IF NOT EXISTS label_corrections (
    pipeline     VARCHAR(64)   NOT NULL,
    row_id       VARCHAR(256)  NOT NULL,
    old_label    DOUBLE PRECISION NOT NULL,
    new_label    DOUBLE PRECISION NOT NULL,
    old_drop_ref VARCHAR(1100) NOT NULL,
    new_drop_ref VARCHAR(1100) NOT NULL,
    corrected_at VARCHAR(32)   NOT NULL,
    PRIMARY KEY (pipeline, row_id, new_drop_ref)
);

-- Realized performance per model version, role and window: a scoring batch (window_kind
-- `batch`, window_key its id) or a rolling run of labelled rows (`rows`, key `<first>-<last>`).
-- Rewritten as more labels arrive for the window; the same labels give the same row.
CREATE TABLE IF NOT EXISTS performance_windows (
    pipeline       VARCHAR(64)   NOT NULL,
    model_version  VARCHAR(16)   NOT NULL,
    role           VARCHAR(16)   NOT NULL,  -- champion | shadow
    window_kind    VARCHAR(16)   NOT NULL,  -- batch | rows
    window_key     VARCHAR(1024) NOT NULL,
    metric         VARCHAR(32)   NOT NULL,
    value          DOUBLE PRECISION,        -- NULL: undefined on the window (one class)
    ci_low         DOUBLE PRECISION,
    ci_high        DOUBLE PRECISION,
    estimated      DOUBLE PRECISION,        -- the label-free estimate on the same rows
    rows_labelled  BIGINT        NOT NULL,
    rows_scored    BIGINT        NOT NULL,
    metrics_json   TEXT          NOT NULL,  -- every metric of the task
    reliability_json TEXT        NOT NULL,  -- the calibration bins ([] for regression)
    scored_from    VARCHAR(32),             -- the window's first and last scoring times
    scored_to      VARCHAR(32),
    computed_at    VARCHAR(32)   NOT NULL,
    PRIMARY KEY (pipeline, model_version, role, window_kind, window_key)
);
