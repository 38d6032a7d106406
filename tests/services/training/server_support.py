"""Shared helpers for the server tests: an app with the fake trainer, uploads, polling."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from services.training.server.settings import ServerSettings

FAKE_TRAINER = Path(__file__).parents[2] / "support" / "fake_trainer.py"
KEY = "sk-test-backend-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {KEY}"}

GOOD_ROW = {
    "messages": [
        {"role": "system", "content": "You play Crafter."},
        {"role": "user", "content": "What next?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"function": {"name": "interact_many", "arguments": "{}"}}],
        },
    ]
}


def fake_tiny(data_dir: Path) -> Path:
    folder = data_dir / "fake-tiny"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text("{}", encoding="utf-8")
    return folder


def settings_for(data_dir: Path, **overrides: Any) -> ServerSettings:
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "key": KEY,
        "trainer_command": [sys.executable, str(FAKE_TRAINER)],
        "tiny_builder": fake_tiny,
        "hub_cache": data_dir / "no-hub-cache",
        "cancel_grace_s": 1.0,
    }
    values.update(overrides)
    return ServerSettings(**values)


def jsonl(rows: list[Any]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def upload(client: TestClient, content: bytes, name: str = "train.jsonl", path: str = "/api/files") -> dict[str, Any]:
    response = client.post(path, headers=AUTH, data={"purpose": "fine-tune"}, files={"file": (name, content)})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def payload(file_id: str, model: str = "sft-studio/tiny-qwen3", **extra: Any) -> dict[str, Any]:
    hp: dict[str, Any] = {"n_epochs": 1, "per_device_batch": 2, "learning_rate": 1e-4, "train_kind": "peft"}
    hp.update(extra.pop("hyperparameters", {}))
    body: dict[str, Any] = {
        "model": model,
        "hyperparameters": hp,
        "training_type": "sft_offline",
        "metadata": {"effective_config": {"compute": {}, "data": {"topology": {}}, "training": {}}},
        "training_file_id": file_id,
    }
    fake = extra.pop("fake", None)
    if fake is not None:
        body["metadata"]["fake_trainer"] = fake
    body.update(extra)
    return body


def create_and_start(client: TestClient, body: dict[str, Any]) -> str:
    created = client.post("/api/learning/jobs", headers=AUTH, json=body)
    assert created.status_code == 200, created.text
    job_id: str = created.json()["job_id"]
    started = client.post(f"/api/learning/jobs/{job_id}/start", headers=AUTH, json={})
    assert started.status_code == 200, started.text
    return job_id


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout} s")


def wait_status(client: TestClient, job_id: str, statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        job: dict[str, Any] = client.get(f"/api/learning/jobs/{job_id}", headers=AUTH).json()
        return job if job["status"] in statuses else None

    result: dict[str, Any] = wait_for(check, timeout)
    return result


def event_types(client: TestClient, job_id: str) -> list[str]:
    events = client.get(f"/api/learning/jobs/{job_id}/events", headers=AUTH).json()["events"]
    return [e["type"] for e in events]


class LiveServer:
    """The app on a real loopback port (uvicorn in a thread), for clients that speak HTTP (synth-ai's
    CLI); fakes injected through ``settings_for``."""

    def __init__(self, data_dir: Path, **overrides: Any) -> None:
        import socket

        import uvicorn

        from services.training.server.app import create_app

        self.settings = settings_for(data_dir, **overrides)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(create_app(self.settings), log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        wait_for(lambda: self._server.started, 30)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(30)
        self._sock.close()
