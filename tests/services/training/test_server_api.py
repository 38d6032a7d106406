"""The learning API as the local backend serves it: auth, files, jobs, errors (fake trainer)."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.training.server.app import create_app
from services.training.server.auth import KEY_ENV, load_or_create_key
from tests.services.training.server_support import (
    AUTH,
    GOOD_ROW,
    KEY,
    create_and_start,
    event_types,
    jsonl,
    payload,
    settings_for,
    upload,
    wait_status,
)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(tmp_path))) as c:
        yield c


def test_health_is_open_and_everything_else_needs_the_key(client: TestClient) -> None:
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/health").status_code == 200
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": KEY}):
        response = client.get("/api/learning/jobs", headers=headers)
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
        assert KEY not in response.text
    upload_401 = client.post("/api/files", files={"file": ("a.jsonl", b"{}\n")})
    assert upload_401.status_code == 401
    assert client.get("/api/learning/jobs", headers=AUTH).status_code == 200


def test_generated_key_is_private_and_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    key = load_or_create_key(tmp_path / "backend")
    assert key.startswith("sk-local-") and len(key) > 40
    assert stat.S_IMODE((tmp_path / "backend" / "api_key").stat().st_mode) == 0o600
    assert load_or_create_key(tmp_path / "backend") == key
    monkeypatch.setenv(KEY_ENV, "sk-from-env-000000000000")
    assert load_or_create_key(tmp_path / "backend") == "sk-from-env-000000000000"


def test_upload_stores_by_hash_and_validates(client: TestClient, tmp_path: Path) -> None:
    good = upload(client, jsonl([GOOD_ROW, GOOD_ROW]))
    assert good["id"].startswith("file_") and good["status"] == "ready" and good["bytes"] > 0
    assert good["examples"] == 2
    again = upload(client, jsonl([GOOD_ROW, GOOD_ROW]), path="/api/learning/files")
    assert again["id"] != good["id"] and again["sha256"] == good["sha256"]
    assert len(list((tmp_path / "backend" / "files").glob("*.jsonl"))) == 1
    assert client.get(f"/api/files/{good['id']}", headers=AUTH).json()["status"] == "ready"
    bad = upload(client, b'{"messages": []}\nnot json\n', name="bad.jsonl")
    assert bad["status"] == "failed"
    assert bad["errors"][0].startswith("Line 1:") and bad["errors"][1].startswith("Line 2: invalid JSON")
    assert not list((tmp_path / "backend" / "files").glob(".*.tmp"))


def test_unknown_ids_are_404_json(client: TestClient) -> None:
    for path in (
        "/api/files/file_nope",
        "/api/learning/jobs/job_nope",
        "/api/learning/jobs/job_nope/status",
        "/api/learning/jobs/job_nope/events",
        "/api/learning/jobs/job_nope/metrics",
        "/api/learning/jobs/job_nope/timeline",
        "/api/learning/jobs/job_nope/config",
        "/api/learning/models/peft:Qwen/Qwen3-0.6B:job_nope",
    ):
        response = client.get(path, headers=AUTH)
        assert response.status_code == 404, path
        assert "not found" in response.json()["detail"]
    assert client.post("/api/learning/jobs/job_nope/start", headers=AUTH, json={}).status_code == 404
    assert client.post("/api/learning/jobs/job_nope/cancel", headers=AUTH).status_code == 404
    response = client.post("/api/learning/jobs", headers=AUTH, json=payload("file_nope"))
    assert response.status_code == 404 and response.json()["field"] == "training_file_id"


@pytest.mark.parametrize(
    ("hyperparameters", "field"),
    [
        ({"n_epochs": 0}, "hyperparameters.n_epochs"),
        ({"per_device_batch": -1}, "hyperparameters.per_device_batch"),
        ({"learning_rate": 0}, "hyperparameters.learning_rate"),
        ({"warmup_ratio": 1.5}, "hyperparameters.warmup_ratio"),
        ({"train_kind": "banana"}, "hyperparameters.train_kind"),
        ({"lora_rank": 0}, "hyperparameters.lora_rank"),
        ({"lora_dropout": 1.0}, "hyperparameters.lora_dropout"),
        ({"weight_decay": -0.1}, "hyperparameters.weight_decay"),
    ],
)
def test_out_of_range_hyperparameters_are_400_with_the_field(
    client: TestClient, hyperparameters: dict[str, object], field: str
) -> None:
    file_id = upload(client, jsonl([GOOD_ROW]))["id"]
    response = client.post("/api/learning/jobs", headers=AUTH, json=payload(file_id, hyperparameters=hyperparameters))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert client.get("/api/learning/jobs", headers=AUTH).json()["jobs"] == []


def test_bad_bodies_are_400(client: TestClient) -> None:
    assert client.post("/api/learning/jobs", headers=AUTH, content=b"not json").status_code == 400
    file_id = upload(client, jsonl([GOOD_ROW]))["id"]
    response = client.post("/api/learning/jobs", headers=AUTH, json=payload(file_id, model=""))
    assert response.status_code == 400 and response.json()["field"] == "model"
    response = client.get("/api/learning/jobs/x/events?since_seq=abc", headers=AUTH)
    assert response.status_code == 400 and response.json()["field"] == "since_seq"


def test_a_job_runs_to_succeeded_with_events_metrics_timeline_and_model(client: TestClient) -> None:
    file_id = upload(client, jsonl([GOOD_ROW] * 3))["id"]
    created = client.post("/api/learning/jobs", headers=AUTH, json=payload(file_id))
    job = created.json()
    assert job["status"] == "queued" and job["job_id"].startswith("job_") and len(job["job_id"]) == 20
    job_id = create_and_start(client, payload(file_id))
    done = wait_status(client, job_id, {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    assert done["fine_tuned_model"] == f"peft:sft-studio/tiny-qwen3:{job_id}"
    assert done["metadata"]["effective_config"]["base_model"] == {
        "requested": "sft-studio/tiny-qwen3",
        "trained": "sft-studio/tiny-qwen3",
        "stand_in": False,
    }
    types = event_types(client, job_id)
    assert types[0] == "sft.created" and types[-1] == "sft.job.completed"
    for expected in ("sft.training.started", "sft.progress", "sft.validation.summary"):
        assert expected in types
    events = client.get(f"/api/learning/jobs/{job_id}/events?since_seq=2&limit=3", headers=AUTH).json()["events"]
    assert [e["seq"] for e in events] == [3, 4, 5]
    completed = client.get(f"/api/learning/jobs/{job_id}/events?since_seq=0&limit=500", headers=AUTH).json()
    assert completed["events"][-1]["data"]["throughput"]["tokens_per_second"] == 1234.5
    loss = client.get(f"/api/learning/jobs/{job_id}/metrics?name=train.loss&after_step=2", headers=AUTH).json()
    assert [p["step"] for p in loss["points"]] == [3, 4]
    names = {p["name"] for p in client.get(f"/api/learning/jobs/{job_id}/metrics", headers=AUTH).json()["points"]}
    assert {"train.loss", "train.learning_rate", "val.loss", "train.tokens_per_second"} <= names
    phases = [e["phase"] for e in client.get(f"/api/learning/jobs/{job_id}/timeline", headers=AUTH).json()["events"]]
    assert phases == ["queued", "validating_files", "running", "training", "evaluating", "succeeded"]
    status = client.get(f"/api/learning/jobs/{job_id}/status", headers=AUTH).json()
    assert status["progress"]["step"] == 4 and status["progress"]["total_steps"] == 4
    models = client.get("/api/learning/models", headers=AUTH).json()["data"]
    assert [m["id"] for m in models] == [done["fine_tuned_model"]]
    one = client.get(f"/api/learning/models/{done['fine_tuned_model']}", headers=AUTH).json()
    assert one["job_id"] == job_id and one["base_model"] == "sft-studio/tiny-qwen3"
    config = client.get(f"/api/learning/jobs/{job_id}/config", headers=AUTH).json()
    assert config["payload"]["training_file_id"] == file_id
    listed = client.get("/api/learning/jobs?status=succeeded", headers=AUTH).json()["jobs"]
    assert [j["job_id"] for j in listed] == [job_id]
    assert client.get("/api/learning/jobs?status=failed", headers=AUTH).json()["jobs"] == []


def test_cancel_of_a_finished_job_is_409_and_changes_nothing(client: TestClient) -> None:
    file_id = upload(client, jsonl([GOOD_ROW]))["id"]
    job_id = create_and_start(client, payload(file_id))
    before = wait_status(client, job_id, {"succeeded"})
    seq = len(event_types(client, job_id))
    response = client.post(f"/api/learning/jobs/{job_id}/cancel", headers=AUTH)
    assert response.status_code == 409 and response.json()["code"] == "job_finished"
    after = client.get(f"/api/learning/jobs/{job_id}", headers=AUTH).json()
    assert after == before and len(event_types(client, job_id)) == seq


def test_fft_job_gets_an_fft_model_id(client: TestClient) -> None:
    file_id = upload(client, jsonl([GOOD_ROW]))["id"]
    job_id = create_and_start(client, payload(file_id, hyperparameters={"train_kind": "fft"}))
    assert wait_status(client, job_id, {"succeeded"})["fine_tuned_model"] == f"fft:sft-studio/tiny-qwen3:{job_id}"


def test_a_full_disk_during_upload_is_507_and_leaves_nothing(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from services.common.atomic import AtomicFile

    def full(self: AtomicFile) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(AtomicFile, "commit", full)
    response = client.post("/api/files", headers=AUTH, files={"file": ("t.jsonl", jsonl([GOOD_ROW]))})
    assert response.status_code == 507 and "No space left" in response.json()["detail"]
    assert list((tmp_path / "backend" / "files").iterdir()) == []
    assert client.get("/api/files", headers=AUTH).json()["data"] == []


def test_the_inference_routes_are_wired_to_this_servers_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The inference helper's ``make_inference_router(resolve_model, list_models)`` gets a resolver
    over the store (fine-tuned ids) and the base-model rules (never a stand-in)."""
    import importlib.machinery
    import sys
    import types

    from fastapi import APIRouter

    from services.training.server.app import inference_router
    from services.training.server.store import Store

    captured: dict[str, object] = {}

    def make_inference_router(resolve: object, list_models: object) -> APIRouter:
        captured.update(resolve=resolve, list_models=list_models)
        return APIRouter()

    for name in ("services.training.inference", "services.training.inference.routes"):
        module = types.ModuleType(name)
        module.__spec__ = importlib.machinery.ModuleSpec(name, None)
        monkeypatch.setitem(sys.modules, name, module)
    sys.modules["services.training.inference.routes"].make_inference_router = make_inference_router  # type: ignore[attr-defined]
    settings = settings_for(tmp_path, stand_ins={"Qwen/Qwen3-0.6B": "sft-studio/tiny-qwen3"})
    store = Store(tmp_path / "b.db")
    store.add_model(model_id="peft:sft-studio/tiny-qwen3:job_1", base_model="sft-studio/tiny-qwen3",
                    job_id="job_1", train_kind="peft", path=str(tmp_path / "out"))  # fmt: skip
    assert inference_router(store, settings) is not None
    resolve = captured["resolve"]
    assert callable(resolve)
    assert resolve("peft:sft-studio/tiny-qwen3:job_1") == tmp_path / "out"
    assert resolve("peft:sft-studio/tiny-qwen3:job_2") is None
    assert resolve("sft-studio/tiny-qwen3") == tmp_path / "fake-tiny"
    assert resolve("Qwen/Qwen3-0.6B") is None  # no stand-in for inference
    list_models = captured["list_models"]
    assert callable(list_models)
    assert list_models() == ["sft-studio/tiny-qwen3", "peft:sft-studio/tiny-qwen3:job_1"]
    store.close()


def test_1000_events_and_5000_metric_points_page_without_loss_or_repeat(client: TestClient) -> None:
    """Clients page events with ``since_seq`` and each metric with ``after_step``: every item once, in order."""
    good = upload(client, jsonl([GOOD_ROW]))
    created = client.post("/api/learning/jobs", headers=AUTH, json=payload(good["id"]))
    job_id = created.json()["job_id"]
    store = client.app.state.store  # type: ignore[attr-defined]
    before = len(client.get(f"/api/learning/jobs/{job_id}/events", headers=AUTH).json()["events"])
    store.add_events(job_id, [("sft.progress", "info", f"step {i}", {"step": i}) for i in range(1000)])
    store.add_metrics(
        job_id,
        [{"name": name, "step": step, "value": step / 10} for step in range(1, 2501) for name in ("train.loss", "lr")],
    )

    seqs: list[int] = []
    cursor = 0
    while True:
        page = client.get(f"/api/learning/jobs/{job_id}/events?since_seq={cursor}&limit=97", headers=AUTH).json()
        if not page["events"]:
            break
        seqs += [e["seq"] for e in page["events"]]
        cursor = page["next_seq"]
    assert seqs == list(range(1, before + 1001))

    for name in ("train.loss", "lr"):
        steps: list[int] = []
        after = -1
        while True:
            url = f"/api/learning/jobs/{job_id}/metrics?name={name}&after_step={after}&limit=200"
            points = client.get(url, headers=AUTH).json()["points"]
            if not points:
                break
            assert {p["name"] for p in points} == {name}
            steps += [p["step"] for p in points]
            after = points[-1]["step"]
        assert steps == list(range(1, 2501))
    # without a cursor: the latest points, ascending (what synth-ai 0.2.23's limit=200 poll sees)
    latest = client.get(f"/api/learning/jobs/{job_id}/metrics?name=lr&limit=200", headers=AUTH).json()["points"]
    assert [p["step"] for p in latest] == list(range(2301, 2501))
