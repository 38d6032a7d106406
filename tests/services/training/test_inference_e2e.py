"""End to end: ``sft-studio collect --policy openai`` plays Crafter against the inference routes
served by uvicorn on loopback, for a base model and a fine-tuned (PEFT) model id."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

from services.training.inference.routes import make_inference_router
from tests.services.training.inference_tiny_model import build_tiny_adapter, build_tiny_model

REPO = Path(__file__).resolve().parents[3]
BASE = "sft-studio/tiny-qwen3"
PEFT = "peft:sft-studio/tiny-qwen3:job_e2e"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("e2e")
    base = build_tiny_model(root / "base")
    models = {BASE: base, PEFT: build_tiny_adapter(base, root / "adapter")}
    app = FastAPI()
    app.include_router(make_inference_router(models.get, lambda: list(models)))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not srv.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    port = srv.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(30)


@pytest.mark.slow
@pytest.mark.parametrize("model", [BASE, PEFT])
def test_collect_plays_and_records_against_the_local_endpoint(server: str, model: str, tmp_path: Path) -> None:
    db = tmp_path / "traces.db"
    cmd = [
        sys.executable, "-m", "tui.cli", "collect", "--db", str(db), "--policy", "openai", "--model", model,
        "--inference-url", server, "--seeds", "0-1", "--max-turns", "3", "--concurrency", "2",
    ]  # fmt: skip
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert "session_traces" in names, names
        sessions = conn.execute("SELECT COUNT(*) FROM session_traces").fetchone()[0]
        calls = conn.execute("SELECT COUNT(*) FROM events WHERE event_type = 'cais'").fetchone()[0]
        models = {r[0] for r in conn.execute("SELECT DISTINCT model_name FROM events WHERE model_name IS NOT NULL")}
    assert sessions == 2
    assert calls >= 2  # at least one recorded model call per episode
    assert models == {model}
