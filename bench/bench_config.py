"""Config work, timed: ours against synth-ai 0.2.23's own builder, in the same run.

* check: validate + build the payload of the shipped LoRA config, in-process (median of N), ours
  (``check_text`` + ``preview_payload``) vs the reference (``build_sft_payload`` of synth-ai 0.2.23,
  run in its own virtual environment, never imported here).
* cold: one whole process that validates the config and prints the payload: ``sft-studio config
  payload`` vs a ``python -c`` that imports synth-ai's builder and calls it (the reference CLI has
  no way to stop before submitting: its ``--dry-run`` submits).
* edit: one form edit in the Configs pane, from FieldEdited to every view updated (headless app).
* round trip: tomlkit load → edit one value → text; and planning a 4-cell sweep.

Run: ``uv run python bench/bench_config.py``. The reference venv is cached under
``~/.cache/sft-studio-bench/synth-ai-0.2.23``.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONFIG = ROOT / "configs" / "crafter_lora_qwen0p6b.toml"
N = 200
VENV = Path.home() / ".cache" / "sft-studio-bench" / "synth-ai-0.2.23"

REF_TIMER = """
import json, statistics, sys, time
from pathlib import Path
from synth_ai.api.train.builders import build_sft_payload
cfg, data, n = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
times = []
for _ in range(n):
    t = time.perf_counter()
    build_sft_payload(config_path=cfg, dataset_override=data, allow_experimental=None)
    times.append(time.perf_counter() - t)
print("RESULT", json.dumps({"median": statistics.median(times)}))
"""

REF_COLD = """
import json, sys
from pathlib import Path
from synth_ai.api.train.builders import build_sft_payload
b = build_sft_payload(config_path=Path(sys.argv[1]), dataset_override=Path(sys.argv[2]), allow_experimental=None)
print(json.dumps(b.payload))
"""


def reference_python() -> Path:
    python = VENV / "bin" / "python"
    if (VENV / ".complete").exists():
        return python
    subprocess.run(["uv", "venv", "-q", "-p", "3.11", str(VENV)], check=True)
    env = {**os.environ, "VIRTUAL_ENV": str(VENV)}
    subprocess.run(["uv", "pip", "install", "-q", "synth-ai==0.2.23"], check=True, env=env)
    (VENV / ".complete").touch()
    return python


def ours_check(dataset: Path) -> float:
    from services.configs.check import check_text
    from services.configs.payload import preview_payload

    text = CONFIG.read_text()
    times = []
    for _ in range(N):
        start = time.perf_counter()
        report = check_text(text, CONFIG, dataset=dataset, require_dataset=True)
        preview_payload(report)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_ref(python: Path, code: str, *args: str) -> tuple[float, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SDK_EXPERIMENTAL")}
    start = time.perf_counter()
    done = subprocess.run(
        [str(python), "-c", code, *args], capture_output=True, text=True, timeout=300, env=env, stdin=subprocess.DEVNULL
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return wall, done.stdout


def cold_ours(dataset: Path) -> float:
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(
            ["uv", "run", "--frozen", "sft-studio", "config", "payload", str(CONFIG), "--dataset", str(dataset)],
            capture_output=True,
            check=True,
            cwd=ROOT,
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def cold_ours_direct(dataset: Path) -> float:
    """The same without uv's start-up: the venv's console script itself."""
    script = ROOT / ".venv" / "bin" / "sft-studio"
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(
            [str(script), "config", "payload", str(CONFIG), "--dataset", str(dataset)], capture_output=True, check=True
        )
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def round_trip() -> tuple[float, float]:
    from services.configs.document import ConfigDocument
    from services.configs.sweeps import plan_sweep

    times = []
    for _ in range(N):
        start = time.perf_counter()
        doc = ConfigDocument.load(CONFIG)
        doc.set_literal("hyperparameters.learning_rate", "1e-5")
        _ = doc.text
        times.append(time.perf_counter() - start)
    sweeps = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(20):
            start = time.perf_counter()
            plan_sweep(CONFIG, "lora_rank", "4,8,16,64", out_dir=Path(tmp))
            sweeps.append(time.perf_counter() - start)
    return statistics.median(times), statistics.median(sweeps)


async def edit_latency() -> float:
    import shutil

    from tui.app.app import SftStudioApp
    from tui.panes.configs.form import ConfigForm
    from tui.panes.configs.pane import ConfigsPane

    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        Path("configs").mkdir()
        shutil.copy(CONFIG, Path("configs") / CONFIG.name)
        app = SftStudioApp(db_path=None, watch_interval=None, candidates=[])
        times = []
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("3")
            await pilot.pause()
            pane = app.query_one(ConfigsPane)
            import tomlkit

            for i in range(30):
                event = ConfigForm.FieldEdited("hyperparameters.sequence_length", tomlkit.item(1024 + i))
                start = time.perf_counter()
                pane._field_edited(event)
                times.append(time.perf_counter() - start)
                await pilot.pause()
        os.chdir(ROOT)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(tmp) / "d.jsonl"
        dataset.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n")
        python = reference_python()
        ours = ours_check(dataset)
        _, out = run_ref(python, REF_TIMER, str(CONFIG), str(dataset), str(N))
        ref = json.loads(out.split("RESULT", 1)[1])["median"]
        print(
            f"check+payload, in-process median of {N}: ours {ours * 1e3:.3f} ms  reference {ref * 1e3:.3f} ms  "
            f"({ref / ours:.2f}x)"
        )
        ref_cold = statistics.median(run_ref(python, REF_COLD, str(CONFIG), str(dataset))[0] for _ in range(5))
        ours_cold = cold_ours(dataset)
        ours_direct = cold_ours_direct(dataset)
        print(
            f"cold process, validate + print payload (median of 5): ours via uv run {ours_cold:.3f} s, "
            f"ours console script {ours_direct:.3f} s, reference python -c {ref_cold:.3f} s "
            f"({ref_cold / ours_direct:.2f}x)"
        )
        rt, sweep = round_trip()
        print(
            f"tomlkit load + edit one value + text: {rt * 1e3:.3f} ms; plan a 4-cell sweep (each checked): "
            f"{sweep * 1e3:.2f} ms"
        )
        latency = asyncio.run(edit_latency())
        print(f"Configs pane: one form edit to all views updated (median of 30): {latency * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
