"""The OpenAI-compatible routes (services/training/inference/routes.py), mounted in a minimal app."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.crafter.prompt import INTERACT_MANY_TOOL, SYSTEM_PROMPT
from services.training.inference.client import InferenceWorker
from services.training.inference.routes import make_inference_router

REPO = Path(__file__).resolve().parents[3]
MESSAGES = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "Step: 1/50\nA tree."}]
CALL_TEXT = '<tool_call>{"name": "interact_many", "arguments": {"actions": ["move_left", "do"]}}</tool_call>'

#: A stand-in worker that speaks the protocol without torch: it answers FAKE_TEXT (or echoes the
#: request when FAKE_TEXT is "ECHO"), fails a load for a model path containing "broken".
FAKE_WORKER = r"""
import json, os, sys
for line in sys.stdin:
    req = json.loads(line)
    if "broken" in req.get("model_path", ""):
        out = {"id": req["id"], "ok": False, "error": "cannot load the model in x: bad weights", "kind": "load"}
    elif os.environ["FAKE_TEXT"] == "ECHO":
        out = {"id": req["id"], "ok": True, "text": json.dumps(req), "prompt_tokens": 3, "completion_tokens": 2,
               "finish_reason": "stop"}
    else:
        out = {"id": req["id"], "ok": True, "text": os.environ["FAKE_TEXT"], "prompt_tokens": 11,
               "completion_tokens": 7, "finish_reason": "stop"}
    sys.stdout.write(json.dumps(out) + "\n"); sys.stdout.flush()
"""

MODELS = {"base-a": Path("/models/a"), "peft:base-a:job_1": Path("/models/adapter"), "broken": Path("/broken")}


def _app(tmp_path: Path, text: str) -> Iterator[TestClient]:
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    worker = InferenceWorker([sys.executable, str(script)], env={"FAKE_TEXT": text})
    app = FastAPI()
    app.include_router(make_inference_router(MODELS.get, lambda: list(MODELS), worker=worker))
    with TestClient(app) as client:
        yield client
    assert worker.pid() is None  # closed with the app


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    yield from _app(tmp_path, CALL_TEXT + "<|im_end|>")


@pytest.fixture
def echo(tmp_path: Path) -> Iterator[TestClient]:
    yield from _app(tmp_path, "ECHO")


def _chat(client: TestClient, **body: Any) -> Any:
    payload = {"model": "base-a", "messages": MESSAGES, "tools": [INTERACT_MANY_TOOL], **body}
    return client.post("/v1/chat/completions", json=payload)


def test_models_lists_every_id(client: TestClient) -> None:
    data = client.get("/v1/models").json()
    assert data["object"] == "list"
    assert [m["id"] for m in data["data"]] == list(MODELS)
    assert client.get("/v1/models/peft:base-a:job_1").json()["id"] == "peft:base-a:job_1"


def test_chat_completion_returns_tool_calls_and_usage(client: TestClient) -> None:
    response = _chat(client, temperature=0, max_tokens=40)
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion" and data["model"] == "base-a"
    choice = data["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["function"]["name"] == "interact_many"
    assert json.loads(call["function"]["arguments"]) == {"actions": ["move_left", "do"]}
    assert choice["message"]["content"] is None
    assert data["usage"] == {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


def test_tool_choice_none_gives_plain_content(client: TestClient) -> None:
    data = _chat(client, tool_choice="none").json()
    assert "tool_calls" not in data["choices"][0]["message"]
    assert data["choices"][0]["message"]["content"] == CALL_TEXT
    assert data["choices"][0]["finish_reason"] == "stop"


def test_what_the_worker_is_asked(echo: TestClient) -> None:
    """Defaults (greedy, 256 tokens), max_completion_tokens, the resolved folder, no tools for "none"."""
    asked = json.loads(_chat(echo).json()["choices"][0]["message"]["content"])
    assert asked["model_path"] == "/models/a" and asked["temperature"] == 0.0 and asked["max_tokens"] == 256
    assert asked["tools"] == [INTERACT_MANY_TOOL]
    asked = json.loads(
        _chat(
            echo, model="peft:base-a:job_1", temperature=0.7, seed=5, max_completion_tokens=9, tool_choice="none"
        ).json()["choices"][0]["message"]["content"]
    )
    assert asked["model_path"] == "/models/adapter" and asked["max_tokens"] == 9 and asked["seed"] == 5
    assert asked["temperature"] == 0.7 and asked["tools"] is None


def test_unknown_model_is_404_in_openai_shape(client: TestClient) -> None:
    for response in (_chat(client, model="nope"), client.get("/v1/models/nope")):
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["code"] == "model_not_found" and error["param"] == "model" and "nope" in error["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"model": ""}, "model"),
        ({"temperature": 5}, "temperature"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stream": True}, "stream"),
        ({"n": 2}, "n"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"messages": "hello"}, "messages"),
    ],
)
def test_bad_requests_are_400_naming_the_field(client: TestClient, body: dict[str, Any], param: str) -> None:
    response = _chat(client, **body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert param in error["message"]


def test_body_that_is_not_json_is_400(client: TestClient) -> None:
    response = client.post("/v1/chat/completions", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 400 and "not JSON" in response.json()["error"]["message"]
    response = client.post("/v1/chat/completions", json=[1, 2])
    assert response.status_code == 400


def test_a_model_that_cannot_load_is_500_with_the_reason(client: TestClient) -> None:
    response = _chat(client, model="broken")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "inference_load" and "bad weights" in error["message"]
    assert _chat(client).status_code == 200  # the worker still serves


def test_the_routes_never_import_torch() -> None:
    code = (
        "import sys; import services.training.inference.routes, services.training.inference.client; "
        "bad = [m for m in ('torch', 'transformers', 'peft') if m in sys.modules]; "
        "sys.exit('imported: ' + ', '.join(bad) if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
