"""The metric names deploy/prometheus/metrics.txt allows, and the names a PromQL expression reads:
the alerting rules and the Grafana dashboard are held to the same list."""

from __future__ import annotations

import re
from pathlib import Path

METRICS = Path(__file__).resolve().parents[1] / "deploy" / "prometheus" / "metrics.txt"


def known_metrics() -> set[str]:
    """The metric names the rules and dashboards may use (deploy/prometheus/metrics.txt)."""
    lines = (line.strip() for line in METRICS.read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


FUNCTIONS_AND_KEYWORDS = {
    "sum", "max", "min", "avg", "count", "by", "without", "on", "ignoring", "group_left",
    "group_right", "or", "and", "unless", "bool", "increase", "rate", "irate", "delta",
    "time", "topk", "bottomk", "histogram_quantile", "label_values", "offset", "vector",
    "clamp_min", "clamp_max", "abs", "timestamp", "max_over_time", "min_over_time",
    "avg_over_time", "changes", "resets", "absent", "scalar", "le", "count_over_time",
}


def expression_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are not functions or
    keywords, outside label matchers, strings and `by (...)` lists, and not numbers."""
    text = re.sub(r"label_values\((\w+)\s*,[^)]*\)", r"\1", expr)  # a Grafana variable query
    text = re.sub(r'"[^"]*"', '""', text)
    text = re.sub(r"\{[^}]*\}", "{}", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables ($__rate_interval, ${x})
    words = re.findall(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)", text)
    return {w for w in words if w not in FUNCTIONS_AND_KEYWORDS
            and not re.fullmatch(r"\d+[smhdwy]|e\d+|inf|nan", w, re.I)}
