"""Runs INSIDE the synth-ai 0.2.23 reference venv (tests/support/reference_cli.py); never imported by the suite.

Usage: ``<venv python> -I reference_runner.py RESULTS.json`` with a JSON list of ``{"config", "dataset", "cwd"}`` on
stdin. For each case it does what ``synth-ai train --type sft --config CONFIG [--dataset DATASET]`` does up to the
job payload, and writes a JSON list of ``{"ok", "payload", "error", "output"}`` to RESULTS.json (not stdout, which
synth-ai prints to). Standard library plus the installed synth-ai only: no project imports.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any


def _run_case(case: dict[str, Any]) -> dict[str, Any]:
    from synth_ai.api.train.builders import build_sft_payload  # type: ignore[import-not-found]
    from synth_ai.api.train.config_finder import discover_configs  # type: ignore[import-not-found]

    buf = io.StringIO()
    home = os.getcwd()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            os.chdir(case["cwd"])
            try:
                # train_command: discover_configs(list(config_paths), requested_type="sft"), then the (single,
                # auto-selected) candidate's resolved path goes to handle_sft.
                candidates = discover_configs([case["config"]], requested_type="sft")
                cfg_path = candidates[0].path
                raw = case["dataset"]
                # train_command: Path(dataset_path).expanduser().resolve() if dataset_path else None
                dataset = Path(raw).expanduser().resolve() if raw else None
                build = build_sft_payload(config_path=cfg_path, dataset_override=dataset, allow_experimental=None)
            except (Exception, SystemExit) as exc:  # TrainError, click.ClickException, TOML errors, ...
                return {"ok": False, "payload": None, "error": str(exc), "output": buf.getvalue()}
    finally:
        os.chdir(home)
    return {"ok": True, "payload": build.payload, "error": None, "output": buf.getvalue()}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: reference_runner.py RESULTS.json < cases.json", file=sys.stderr)
        return 2
    out = Path(argv[1])
    cases = json.load(sys.stdin)
    results = [_run_case(case) for case in cases]
    tmp = out.with_suffix(".part")
    tmp.write_text(json.dumps(results), encoding="utf-8")
    tmp.replace(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
