"""Small rooms: no production module over MAX_LINES lines, no function above radon grade C.

Run by `make lint`. Tests are exempt; bench/ and tools/ are scripts, not the service.
"""

from __future__ import annotations

import sys
from pathlib import Path

from radon.complexity import cc_rank, cc_visit

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mlops_lib", "mlops_dev", "plugins", "dags")
MAX_LINES = 400
MAX_RANK = "C"  # radon's grades: A (1-5), B (6-10), C (11-20), D (21-30), E, F


def problems(root: Path = ROOT) -> list[str]:
    found = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            source = path.read_text(encoding="utf-8")
            where = path.relative_to(root)
            lines = source.count("\n")
            if lines > MAX_LINES:
                found.append(f"{where}: {lines} lines (limit {MAX_LINES}): split it by "
                             "responsibility")
            for block in cc_visit(source):
                rank = cc_rank(block.complexity)
                if rank > MAX_RANK:
                    found.append(f"{where}:{block.lineno} {block.name}: complexity "
                                 f"{block.complexity} (grade {rank}, limit {MAX_RANK})")
    return found


def main() -> int:
    found = problems()
    for line in found:
        print(line)
    if found:
        print(f"{len(found)} module(s) or function(s) too large", file=sys.stderr)
        return 1
    print(f"module size and complexity: ok (≤ {MAX_LINES} lines, grade ≤ {MAX_RANK})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
