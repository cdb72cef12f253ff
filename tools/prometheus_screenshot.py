"""Render a running Prometheus' graph page of the service's metrics to a PNG, with headless
Chromium: the README's "Operating it" picture, taken from a real run
(tests/integration/test_prometheus_scrape.py with CT_PROMETHEUS_SCREENSHOT=<png> calls this).

    python tools/prometheus_screenshot.py http://127.0.0.1:9090 docs/img/prometheus-ct-metrics.png
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

# What an operator looks at first: what arrived and what was refused, per pipeline. One panel:
# with several, the classic UI focuses the last one's input and headless Chromium's shot
# scrolls away from the graphs.
EXPRESSIONS = ("sum by (pipeline, status) (ct_batches_total)",)
MAX_BYTES = 300 * 1024


def graph_url(prometheus: str, expressions: tuple[str, ...], range_input: str = "15m") -> str:
    """Prometheus' graph page with one panel per expression, as graphs. Debian's build serves
    only the classic UI, at /classic/graph (its /graph redirects there and drops the query)."""
    params: dict[str, str] = {}
    for i, expr in enumerate(expressions):
        params |= {f"g{i}.expr": expr, f"g{i}.tab": "0", f"g{i}.range_input": range_input}
    base = prometheus.rstrip("/")
    page = "/classic/graph" if _serves(f"{base}/classic/graph") else "/graph"
    return f"{base}{page}?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"


def _serves(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (a local server)
            return int(response.status) == 200
    except OSError:
        return False


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    sys.exit("no Chromium on PATH (apt-get install chromium)")


def screenshot(url: str, out: Path, size: str = "1400,900") -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:  # no state of the user's browser
        subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", f"--user-data-dir={profile}",
                        "--virtual-time-budget=8000",  # the page's queries and charts load
                        f"--window-size={size}", f"--screenshot={out}", url],
                       check=True, capture_output=True, timeout=120)
    if out.stat().st_size > MAX_BYTES:
        sys.exit(f"{out}: {out.stat().st_size} bytes, over {MAX_BYTES}: use fewer panels")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prometheus", help="the Prometheus server's URL")
    parser.add_argument("out", type=Path, help="the PNG to write")
    parser.add_argument("--expr", default=EXPRESSIONS[0],
                        help=f"the PromQL expression to graph (default: {EXPRESSIONS[0]})")
    parser.add_argument("--range", default="15m", help="the graphs' time range (default 15m)")
    args = parser.parse_args()
    url = graph_url(args.prometheus, (args.expr,), args.range)
    screenshot(url, args.out)
    print(f"{args.out}: {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
