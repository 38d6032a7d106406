"""End to end against real models: the local backend's tiny Qwen3 (``--backend local``, started in a
temporary data dir) and a fine-tuned (PEFT) id served by the same inference routes, compared."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from services.evals.compare import compare
from services.evals.launcher import run_eval
from services.evals.local_backend import with_local_backend
from services.evals.results import result_from_run
from services.evals.settings import EvalError, build_settings
from services.training.inference.routes import make_inference_router
from services.training.server.auth import KEY_ENV
from services.training.server.lifecycle import stop_server
from tests.services.training.inference_tiny_model import build_tiny_adapter, build_tiny_model

BASE = "sft-studio/tiny-qwen3"
TUNED = "peft:sft-studio/tiny-qwen3:job_evale2e"


@pytest.mark.slow
def test_backend_local_base_model_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    try:
        settings = with_local_backend(
            build_settings({"model": BASE, "backend": "local", "seeds": [10000, 10001], "max_turns": 2}), tmp_path
        )
        assert settings.inference_url is not None and settings.inference_url.endswith("/v1")
        assert settings.api_key is not None
        run = run_eval(settings)
        assert [e.seed for e in run.episodes] == [10000, 10001]
        assert all(e.decisions == 2 for e in run.episodes)
        # An untrained tiny model writes junk: counted as tool-call failures, the episode goes on.
        assert all(e.total_tokens > 0 for e in run.episodes)
        unknown = settings.model_copy(update={"model": "fft:sft-studio/tiny-qwen3:job_missing"})
        with pytest.raises(EvalError, match=f"not served .*available: .*{BASE}"):
            run_eval(unknown)
    finally:
        with contextlib.suppress(Exception):
            stop_server(tmp_path)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("evale2e")
    base = build_tiny_model(root / "base")
    models = {BASE: base, TUNED: build_tiny_adapter(base, root / "adapter")}
    app = FastAPI()
    app.include_router(make_inference_router(models.get, lambda: list(models)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(30)


@pytest.mark.slow
def test_fine_tuned_and_base_compared_with_random(served: str) -> None:
    seeds = [10000, 10001]
    results = {}
    for model in (BASE, TUNED):
        settings = build_settings(
            {"model": model, "inference_url": served, "api_key_env": None, "seeds": seeds, "max_turns": 2}
        )
        results[model] = result_from_run(run_eval(settings))
    rand = result_from_run(run_eval(build_settings({"policy": "random", "seeds": seeds, "max_turns": 2})))
    for result in (*results.values(), rand):
        assert [e.seed for e in result.episodes] == seeds
    assert compare(results[TUNED], results[BASE]).seeds == 2
    assert compare(results[TUNED], rand).verdict in ("better", "worse", "no detectable difference")
