"""The heading of an Evidently report: its title names the pipeline and run, and the page says
what "reference" and "current" are."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_lib.reports.builders import build_reports
from mlops_lib.reports.heading import ReportHeading, add_heading, with_heading
from mlops_lib.spec import load_spec
from tests.support import EXAMPLE_SPEC

pytestmark = pytest.mark.unit

HEADING = ReportHeading("credit_default: data drift, training run manual__1",
                        "the training data of champion v1 (data rev abc; 300 rows shown)",
                        "this run's training data, model v2 (data rev def; 300 rows shown)")


def test_the_title_and_block_go_into_head_and_body() -> None:
    page = with_heading("<html><head><title>Evidently</title></head><body><p>x</p></body>"
                        "</html>", HEADING)
    assert "<title>credit_default: data drift, training run manual__1</title>" in page
    assert "Evidently</title>" not in page
    body = page.split("<body>", 1)[1]
    assert body.startswith("<header id='ct-report-heading'")
    assert "<b>Reference:</b> the training data of champion v1" in body
    assert body.index("Current:") < body.index("<p>x</p>")


def test_heading_twice_keeps_one_heading_and_escapes() -> None:
    odd = ReportHeading("p: <run & co>", None, "batch <b>")
    page = with_heading(with_heading("<html><head></head><body></body></html>", HEADING), odd)
    assert page.count("ct-report-heading") == 1 and page.count("<title>") == 1
    assert "p: &lt;run &amp; co&gt;" in page and "Reference:" not in page


def test_a_real_evidently_report_gets_its_heading(tmp_path: Path) -> None:
    spec = load_spec(EXAMPLE_SPEC)
    from mlops_dev.datagen import generate_batch

    frame: pd.DataFrame = generate_batch(spec, 300, seed=1)
    bundle = build_reports(frame, generate_batch(spec, 300, seed=2, drift=0.5), spec, tmp_path)
    [drift] = [f for f in bundle.files if f.kind == "data_drift" and f.format == "html"]
    add_heading(drift.path, HEADING)
    page = drift.path.read_text()
    assert f"<title>{HEADING.title}</title>" in page
    body_at = page.lower().index("<body")
    assert body_at < page.index("ct-report-heading") < page.index("Current:")
