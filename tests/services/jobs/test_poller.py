"""The poller against the fault-injecting stub: dedup, ordering, terminal rules, errors, timeouts, memory."""

from __future__ import annotations

import gc
import re
import sys
import threading
import time
from typing import Any

import pytest

from services.jobs.client import LearningClient
from services.jobs.errors import BackendAuthError, BackendError, BackendNotFound
from services.jobs.poller import MAX_EVENTS, JobWatch, watch
from tests.services.jobs.support import KEY
from tests.support.stub_backend import RecordedRequest, Reply, StubBackend


def deep_size(root: object) -> int:
    """Bytes reachable from ``root`` (its own state; the client and its connection pool excluded)."""
    seen: set[int] = set()
    total = 0
    todo = [v for k, v in vars(root).items() if k not in ("client", "_clock")]
    while todo:
        obj = todo.pop()
        if id(obj) in seen or isinstance(obj, type) or callable(obj):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        todo.extend(gc.get_referents(obj))
    return total


def _job(stub: StubBackend, client: LearningClient, body: dict[str, Any] | None = None) -> str:
    job_id = client.create_job({"model": "m", "metadata": {}}).job_id
    stub.set_job(job_id, body or {"job_id": job_id, "status": "running"})
    return job_id


def _client(stub: StubBackend) -> LearningClient:
    return LearningClient(stub.root_url, KEY, sleep=lambda s: None)


def _event(seq: int, type_: str = "sft.progress", **data: Any) -> dict[str, Any]:
    return {"seq": seq, "type": type_, "level": "info", "message": f"e{seq}", "data": data}


def test_duplicate_and_out_of_order_events(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client)
    stub.add_events(job_id, [_event(3), _event(1), _event(2), _event(2), _event(1)])
    watcher = JobWatch(client, job_id)
    first = watcher.poll_once()
    assert [e.seq for e in first.events] == [1, 2, 3]
    assert [e.seq for e in first.new_events] == [1, 2, 3]
    stub.add_events(job_id, [_event(5), _event(3), _event(4)])
    second = watcher.poll_once()
    assert [e.seq for e in second.events] == [1, 2, 3, 4, 5]
    assert [e.seq for e in second.new_events] == [4, 5]
    since = [r.query for r in stub.requests_to("GET", r"/learning/jobs/[^/]+/events")]
    assert "since_seq=3" in since[-1]


def test_progress_eta_curves_and_throughput(stub: StubBackend) -> None:
    clock = iter(range(0, 1000, 10))
    client = _client(stub)
    job_id = _job(stub, client)
    watcher = JobWatch(client, job_id, clock=lambda: float(next(clock)))
    stub.add_events(job_id, [_event(1, step=1, total_steps=10, epoch=0.1, loss=2.0)])
    stub.add_metrics(
        job_id,
        [
            {"name": "train.loss", "value": 2.0, "step": 1},
            {"name": "train.learning_rate", "value": 1e-4, "step": 1},
            {"name": "train.tokens_per_second", "value": 500.0, "step": 1},
        ],
    )
    watcher.poll_once()
    stub.add_events(job_id, [_event(2, step=3, total_steps=10, epoch=0.3, loss=1.5)])
    stub.add_metrics(
        job_id, [{"name": "train.loss", "value": 1.5, "step": 3}, {"name": "val.loss", "value": 1.7, "step": 3}]
    )
    snap = watcher.poll_once()
    assert (snap.step, snap.total_steps, snap.epoch) == (3, 10, 0.3)
    assert snap.eta_s is not None and snap.eta_s > 0
    assert snap.curves["train.loss"] == [(1, 2.0), (3, 1.5)]
    assert snap.curves["val.loss"] == [(3, 1.7)]
    assert snap.curves["train.learning_rate"] == [(1, 1e-4)]
    assert snap.tokens_per_s == 500.0
    assert not snap.terminal


def test_terminal_status_without_model_refetches_the_job(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client)
    reads: list[int] = []

    def get_job(request: RecordedRequest, match: re.Match[str]) -> Reply:
        reads.append(1)
        body: dict[str, Any] = {"job_id": job_id, "status": "succeeded", "fine_tuned_model": None}
        if len(reads) > 1:
            body["fine_tuned_model"] = f"peft:m:{job_id}"
        return Reply(200, body)

    stub.add_route("GET", r"/learning/jobs/(?P<job_id>[^/]+)", get_job)
    snap = JobWatch(client, job_id).poll_once()
    assert snap.terminal and snap.succeeded
    assert snap.fine_tuned_model == f"peft:m:{job_id}"
    assert len(reads) == 2


def test_terminal_event_ends_the_watch_and_the_model_comes_from_it(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client, {"job_id": "x", "state": "training"})
    stub.set_job(job_id, {"id": job_id, "state": "training"})
    stub.add_events(job_id, [_event(1, "sft.job.completed", fine_tuned_model="peft:m:x")])
    snap = JobWatch(client, job_id).poll_once()
    assert snap.terminal and snap.succeeded and snap.fine_tuned_model == "peft:m:x"


def test_failure_reason_from_events(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client)
    stub.set_job(job_id, {"job_id": job_id, "status": "errored"})
    stub.add_events(
        job_id, [{"seq": 1, "type": "sft.job.failed", "level": "error", "message": "", "data": {"detail": "OOM"}}]
    )
    snap = JobWatch(client, job_id).poll_once()
    assert snap.terminal and not snap.succeeded and snap.error == "OOM"


def test_401_mid_poll_stops_at_once(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client)
    seen: list[str] = []
    ticks = {"n": 0}

    def on_snapshot(snapshot: object) -> None:
        ticks["n"] += 1
        if ticks["n"] == 2:
            stub.fail("GET", r"/learning/jobs/[^/]+(/status)?", status=401, times=100)

    with pytest.raises(BackendAuthError):
        watch(client, job_id, poll_interval=0.01, on_snapshot=on_snapshot, on_error=lambda e, d: seen.append(e.message))
    assert ticks["n"] == 2 and not seen
    job_reads = stub.requests_to("GET", r"/learning/jobs/[^/]+(/status)?")
    assert len(job_reads) == 3  # two good ticks, one 401, nothing after
    assert len(stub.requests_to("GET", r"/learning/jobs/[^/]+/events")) == 2


def test_errors_back_off_with_the_reason_then_recover(stub: StubBackend) -> None:
    client = LearningClient(stub.root_url, KEY, retries=0)
    job_id = _job(stub, client)
    stub.fail("GET", r"/learning/jobs/[^/]+(/status)?", status=500, times=2)
    reasons: list[tuple[str, float]] = []
    done = threading.Event()

    def on_snapshot(snapshot: Any) -> None:
        stub.set_job(job_id, {"job_id": job_id, "status": "failed", "error": "boom"})

    result = watch(
        client,
        job_id,
        poll_interval=0.01,
        on_snapshot=on_snapshot,
        on_error=lambda e, d: reasons.append((e.message, d)),
        stop=done,
    )
    assert [d for _, d in reasons] == [0.02, 0.04]
    assert "HTTP 500" in reasons[0][0]
    assert result.outcome == "terminal" and result.snapshot is not None and result.snapshot.error == "boom"


def test_poll_timeout_is_wall_clock(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client)
    started = time.monotonic()
    result = watch(client, job_id, poll_interval=0.05, poll_timeout=0.4)
    elapsed = time.monotonic() - started
    assert result.outcome == "timeout" and 0.35 <= elapsed < 3.0


def test_stop_event_ends_the_watch(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    result = watch(client, job_id, poll_interval=0.05, stop=stop)
    assert result.outcome == "stopped" and result.snapshot is not None


def test_unknown_job_stops_at_once(stub: StubBackend) -> None:
    with pytest.raises(BackendNotFound):
        watch(_client(stub), "job_nope", poll_interval=0.01)


def test_status_route_after_the_first_tick_and_fallback(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client, {"job_id": "x", "status": "running", "model": "base"})
    stub.set_job(job_id, {"job_id": job_id, "status": "running", "model": "base"})
    watcher = JobWatch(client, job_id)
    watcher.poll_once()
    stub.set_job(job_id, {"job_id": job_id, "status": "training", "model": "base"})
    snap = watcher.poll_once()
    assert snap.job.status == "training" and snap.job.base_model == "base"
    assert len(stub.requests_to("GET", r"/learning/jobs/[^/]+/status")) == 1
    stub.add_route("GET", r"/learning/jobs/(?P<job_id>[^/]+)/status", lambda r, m: Reply(404, {"detail": "no route"}))
    watcher.poll_once()
    watcher.poll_once()  # no /status on this backend: the full job from now on
    assert len(stub.requests_to("GET", r"/learning/jobs/[^/]+/status")) == 2
    assert len(stub.requests_to("GET", r"/learning/jobs/[^/]+")) == 3


def test_val_loss_is_asked_when_due(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client)
    watcher = JobWatch(client, job_id)

    def val_asks() -> int:
        return sum("name=val.loss" in r.query for r in stub.requests_to("GET", r"/learning/jobs/[^/]+/metrics"))

    watcher.poll_once()
    start = val_asks()  # the first tick also tries a step-less query (nothing stored yet)
    watcher.poll_once()
    assert val_asks() == start
    stub.add_events(job_id, [_event(1, "sft.validation.summary")])
    stub.add_metrics(job_id, [{"name": "val.loss", "value": 0.5, "step": 2}])
    snap = watcher.poll_once()
    assert val_asks() == start + 1 and snap.curves["val.loss"] == [(2, 0.5)]
    for _ in range(5):
        watcher.poll_once()
    assert val_asks() == start + 2  # every fifth tick otherwise


def test_memory_is_flat_over_10000_events(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client)
    watcher = JobWatch(client, job_id)
    retained: list[int] = []
    for batch in range(5):
        stub.add_events(job_id, [_event(batch * 2000 + i + 1, step=i) for i in range(2000)])
        snap = watcher.poll_once()
        assert len(snap.events) <= MAX_EVENTS
        retained.append(deep_size(watcher))
    last = watcher.last
    assert last is not None and last.events_seen == 10_000
    assert last.events[-1].seq == 10_000 and len(last.events) == MAX_EVENTS
    assert retained[-1] < retained[1] * 1.1, retained  # flat: 10,000 events keep what 4,000 kept


def test_metric_curve_survives_more_than_200_points_per_tick(stub: StubBackend) -> None:
    client = _client(stub)
    job_id = _job(stub, client)
    stub.add_metrics(job_id, [{"name": "train.loss", "value": 1.0, "step": s} for s in range(1, 601)])
    snap = JobWatch(client, job_id).poll_once()
    assert len(snap.curves["train.loss"]) == 600


def test_watch_errors_keep_the_key_out(stub: StubBackend) -> None:
    client = LearningClient(stub.root_url, KEY, retries=0)
    job_id = _job(stub, client)
    stub.fail("GET", r"/learning/jobs/[^/]+(/status)?", status=500, body={"detail": f"trace with {KEY}"})
    messages: list[str] = []
    stop = threading.Event()
    watch(client, job_id, poll_interval=0.01, on_error=lambda e, d: (messages.append(str(e)), stop.set()), stop=stop)
    assert messages and KEY not in messages[0]
    assert isinstance(BackendError("x"), Exception)
