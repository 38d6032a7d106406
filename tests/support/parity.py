"""Comparing our stats text with analyze_trace_db.py's, figure by figure.

The reference orders equal counts by Python set iteration order, which changes with hash
randomisation; runs of ``name -> count`` / ``name: count`` lines are therefore compared as sorted
runs, after checking that our runs are in non-increasing count order.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.support.reference_tools import reference_script

_COUNT_LINE = re.compile(r"^\s+(\S+)\s*(?:->|:)\s*(\d+)$")


def run_reference_stats(db: Path) -> str:
    script = reference_script("analyze_trace_db.py")
    out = subprocess.run([sys.executable, str(script), "--db", str(db)], capture_output=True, text=True, check=True)
    return out.stdout


def canonical(report: str) -> list[str]:
    lines = report.splitlines()
    out: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        if _COUNT_LINE.match(line) and "unique ->" not in line:
            run.append(line)
            continue
        out += sorted(run)
        run = []
        out.append(line)
    return out[:-1]


def count_runs_are_sorted(report: str) -> bool:
    prev: int | None = None
    for line in report.splitlines():
        m = _COUNT_LINE.match(line)
        if m is None or "unique ->" in line:
            prev = None
            continue
        n = int(m.group(2))
        if prev is not None and n > prev:
            return False
        prev = n
    return True
