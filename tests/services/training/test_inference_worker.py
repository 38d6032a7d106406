"""The inference worker (services/training/inference/worker.py) and its client (client.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from services.crafter.prompt import INTERACT_MANY_TOOL, SYSTEM_PROMPT
from services.training.inference.client import InferenceError, InferenceWorker
from tests.services.training.inference_tiny_model import build_tiny_adapter, build_tiny_model

MESSAGES = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "Step: 1/50\nA tree."}]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    base = build_tiny_model(root / "base")
    other = build_tiny_model(root / "other", seed=1)
    adapter = build_tiny_adapter(base, root / "adapter")
    return {"base": base, "other": other, "adapter": adapter}


@pytest.fixture(scope="module")
def engine() -> Any:
    import torch

    from services.training.inference.worker import Engine

    torch.set_num_threads(1)
    return Engine(cache_size=2)


def _req(path: Path, **kw: Any) -> Any:
    from services.training.inference.worker import GenerateRequest

    return GenerateRequest(model_path=str(path), messages=MESSAGES, tools=[INTERACT_MANY_TOOL], **kw)


def test_greedy_is_deterministic_and_counts_tokens(engine: Any, tiny: dict[str, Path]) -> None:
    a = engine.generate(_req(tiny["base"], max_tokens=12))
    b = engine.generate(_req(tiny["base"], max_tokens=12))
    assert a["text"] == b["text"]
    assert a["prompt_tokens"] > 50
    assert 1 <= a["completion_tokens"] <= 12
    assert a["finish_reason"] in {"stop", "length"}


def test_sampling_with_a_seed_repeats(engine: Any, tiny: dict[str, Path]) -> None:
    a = engine.generate(_req(tiny["base"], max_tokens=16, temperature=1.5, seed=7))
    b = engine.generate(_req(tiny["base"], max_tokens=16, temperature=1.5, seed=7))
    assert a["text"] == b["text"]


def test_max_tokens_is_capped(engine: Any, tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    from services.training.inference import worker

    monkeypatch.setattr(worker, "MAX_TOKENS_CAP", 5)
    out = engine.generate(_req(tiny["base"], max_tokens=500))
    assert out["completion_tokens"] <= 5


def test_models_kept_in_a_small_lru(engine: Any, tiny: dict[str, Path]) -> None:
    engine.generate(_req(tiny["base"], max_tokens=2))
    loads = engine.loads
    engine.generate(_req(tiny["base"], max_tokens=2))
    assert engine.loads == loads  # kept
    engine.generate(_req(tiny["other"], max_tokens=2))
    engine.generate(_req(tiny["adapter"], max_tokens=2))
    assert len(engine.loaded()) == 2
    assert str(tiny["base"].resolve()) not in engine.loaded()  # least recently used went first


def test_adapter_loads_on_its_base_and_changes_the_logits(engine: Any, tiny: dict[str, Path]) -> None:
    # A random tiny model's next-token distribution is nearly flat, so sampled or greedy *text* hardly
    # depends on the weights; the logits show that the adapter is applied.
    import torch

    base = engine.model(str(tiny["base"]))
    adapted = engine.model(str(tiny["adapter"]))
    assert type(adapted.model).__name__ == "PeftModel"
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.inference_mode():
        diff = (base.model(ids).logits - adapted.model(ids).logits).abs().max().item()
    assert diff > 0.05
    assert engine.generate(_req(tiny["adapter"], max_tokens=3))["completion_tokens"] >= 1


def test_missing_folder_and_bad_adapter_are_load_failures(engine: Any, tmp_path: Path) -> None:
    from services.training.inference.worker import WorkerFailure

    with pytest.raises(WorkerFailure) as missing:
        engine.generate(_req(tmp_path / "nope"))
    assert missing.value.kind == "load"
    bad = tmp_path / "adapter"
    bad.mkdir()
    (bad / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/no/such/base"}))
    with pytest.raises(WorkerFailure, match="/no/such/base"):
        engine.generate(_req(bad))


def test_client_round_trip_through_a_real_worker_child(tiny: dict[str, Path]) -> None:
    worker = InferenceWorker()
    try:
        body = {"model_path": str(tiny["base"]), "messages": MESSAGES, "max_tokens": 4}
        futures = [worker.submit(body) for _ in range(3)]  # queued to one child, served in order
        replies = [f.result(timeout=180) for f in futures]
        assert all(r["ok"] and r["completion_tokens"] <= 4 for r in replies)
        assert len({r["text"] for r in replies}) == 1
        with pytest.raises(InferenceError) as bad:
            worker.submit({"model_path": str(tiny["base"]), "messages": []}).result(timeout=60)
        assert bad.value.kind == "bad_request"
        assert worker.starts == 1  # the child survived the bad request
    finally:
        worker.close()
    assert worker.pid() is None


def test_a_dead_worker_fails_the_request_with_its_log_and_restarts(tmp_path: Path) -> None:
    script = tmp_path / "dies.py"
    script.write_text("import sys\nsys.stdin.readline()\nsys.stderr.write('CUDA out of memory\\n')\nsys.exit(3)\n")
    worker = InferenceWorker([sys.executable, str(script)])
    try:
        for _ in range(2):
            with pytest.raises(InferenceError) as err:
                worker.submit({"model_path": "x", "messages": MESSAGES}).result(timeout=60)
            assert "exited (code 3)" in err.value.message
            assert "CUDA out of memory" in err.value.message
        assert worker.starts == 2
    finally:
        worker.close()


def test_worker_dies_with_the_server_process(tmp_path: Path) -> None:
    """SIGKILL the process that owns an InferenceWorker: its child goes too."""
    pid_file = tmp_path / "pid"
    parent = textwrap.dedent(
        f"""
        import pathlib, time
        from services.training.inference.client import InferenceWorker
        w = InferenceWorker()
        w.submit({{"op": "ping"}}).result(timeout=120)
        pathlib.Path({str(pid_file)!r}).write_text(str(w.pid()))
        time.sleep(300)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", parent], cwd=Path(__file__).resolve().parents[3])
    try:
        deadline = time.monotonic() + 150
        while not pid_file.exists() or not pid_file.read_text():
            assert proc.poll() is None, "the parent died early"
            assert time.monotonic() < deadline, "the worker never answered"
            time.sleep(0.2)
        child = int(pid_file.read_text())
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 15
        while _alive(child):
            assert time.monotonic() < deadline, "the worker outlived its parent"
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _prompts() -> list[list[dict[str, str]]]:
    texts = ["A tree.", "Grass to the north, water far east, a cow nearby and a table.", "Stone.", "Night."]
    return [[MESSAGES[0], {"role": "user", "content": f"Step: {i}/50\n{t}"}] for i, t in enumerate(texts)]


def test_a_batch_gives_each_request_what_it_would_get_alone(engine: Any, tiny: dict[str, Path]) -> None:
    """Left-padded rows of different lengths and budgets: greedy text as alone; a failing row fails alone."""
    from services.training.inference.worker import GenerateRequest, WorkerFailure

    requests = [
        GenerateRequest(model_path=str(tiny["base"]), messages=m, tools=[INTERACT_MANY_TOOL], max_tokens=n)
        for m, n in zip(_prompts(), (12, 3, 20, 7), strict=True)
    ]
    alone = [engine.generate(r) for r in requests]
    too_long = GenerateRequest(model_path=str(tiny["base"]), messages=[{"role": "user", "content": "tree " * 5000}])
    together = engine.generate_batch([*requests[:2], too_long, *requests[2:]])
    assert isinstance(together[2], WorkerFailure) and together[2].kind == "bad_request"
    del together[2]
    assert together == alone
    assert [r["completion_tokens"] <= n for r, n in zip(together, (12, 3, 20, 7), strict=True)] == [True] * 4


def test_the_client_batches_what_waits_together(tiny: dict[str, Path]) -> None:
    """Eight callers at once get one or two batched generations, each its own answer; a seeded sample
    and another model's request are served on their own, in their turn."""
    worker = InferenceWorker()
    try:
        worker.submit({"op": "ping"}).result(timeout=120)
        bodies = [{"model_path": str(tiny["base"]), "messages": m, "max_tokens": 6} for m in _prompts() * 2]
        alone = [worker.submit(b).result(timeout=120)["text"] for b in bodies[:4]]
        assert worker.batches == 0
        seeded = {"model_path": str(tiny["base"]), "messages": MESSAGES, "temperature": 1.0, "seed": 3}
        other = {"model_path": str(tiny["other"]), "messages": MESSAGES, "max_tokens": 4}
        futures = [worker.submit(b) for b in bodies[:3]] + [worker.submit(seeded), worker.submit(other)]
        futures += [worker.submit(b) for b in bodies[3:]]
        replies = [f.result(timeout=180) for f in futures]
        texts = [r["text"] for r in replies[:3]] + [r["text"] for r in replies[5:]]
        assert texts == alone * 2
        assert all(r["ok"] for r in replies)
        assert worker.batches >= 1
    finally:
        worker.close()
