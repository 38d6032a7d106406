"""Pilot tests of the Jobs pane: listing, polling only while shown, the detail, cancel, copy, errors,
and against the real local backend (fake trainer): submit from the form, watch, cancel, reattach.

The first group injects ``tests.support.fake_jobs.FakeClient`` (fixed jobs, no network); the second
runs our backend on a loopback port (``LiveServer``) with the fake trainer standing in for torch,
so the pane goes through the real client, poller, submit and job store.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from services.jobs.api_models import JobInfo
from services.jobs.backends import resolve_backend
from services.jobs.errors import BackendUnreachable
from services.jobs.store import JobRecord, JobStore
from tests.services.training.server_support import GOOD_ROW, KEY, LiveServer, jsonl, payload
from tests.support.fake_jobs import FakeClient, failed_job, fake_pane_options, running_job, succeeded_job
from tests.support.paths import ROOT
from tests.support.pilot import SIZE, key_active, show_pane, until
from tests.support.stub_backend import Reply, StubBackend
from tui.app.app import SftStudioApp
from tui.panes.jobs.detail import JobDetail
from tui.panes.jobs.dialogs import ConfirmDialog, ConfirmSubmitDialog, SubmitDialog
from tui.panes.jobs.pane import JobsPane
from tui.widgets.event_log import EventLog
from tui.widgets.loss_chart import LossChart


def _app(client: FakeClient, tmp_path: Path, **extra: Any) -> SftStudioApp:
    options = fake_pane_options(client, tmp_path / "runs.db", **extra)
    return SftStudioApp(db_path=None, watch_interval=None, candidates=[], pane_options={"jobs": options})


def _text(app: SftStudioApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing touches the user's data dir (the local backend's key, the job store)."""
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SYNTH_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)


async def test_lists_jobs_names_backend_and_key_source_never_the_key(tmp_path: Path) -> None:
    client = FakeClient([running_job(), failed_job(), succeeded_job()])
    app = _app(client, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: len(pane.rows) == 3)
        header = _text(app, "#jobs-header")
        assert "local" in header and "http://127.0.0.1:8765/api" in header
        assert "key: local backend key (data dir)" in header
        assert "sk-fake" not in header and "0123456789abcdef" not in header
        table = app.query_one("#jobs-table", DataTable)
        assert table.row_count == 3 and app.focused is table
        detail = app.query_one(JobDetail)
        assert detail.job_id == "job_running_01"
        # the detail's own poll lands after the table's (it was read too early once on a loaded CI run)
        await until(pilot, lambda: "24/40" in _text(app, "#jd-progress"))
        await until(pilot, lambda: len(app.query_one(LossChart).train) == 24)
        assert len(app.query_one(LossChart).train) == 24 and len(app.query_one(LossChart).val) == 2
        await pilot.press("down")  # the failed job: its error shows in the detail
        await until(pilot, lambda: detail.job_id == "job_failed_02")
        assert "CUDA out of memory" in _text(app, "#jd-error")
        assert not key_active(app, "jobs.cancel")  # nothing to cancel on a finished job


async def test_polls_only_while_the_pane_is_shown(tmp_path: Path) -> None:
    client = FakeClient([running_job()])
    app = _app(client, tmp_path, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: pane.polls >= 3)
        await pilot.press("1")
        await pilot.pause(0.3)
        sent = client.requests_sent
        await pilot.pause(0.5)
        assert client.requests_sent == sent and pane.paused  # hidden: the chain is paused
        await pilot.press("4")
        await until(pilot, lambda: client.requests_sent > sent)  # shown again: it resumes


async def test_cancel_asks_first_then_cancels(tmp_path: Path) -> None:
    client = FakeClient([running_job()])
    app = _app(client, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: pane.rows and key_active(app, "jobs.cancel"))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await pilot.pause(0.2)
        assert client.cancelled == []
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: client.cancelled == ["job_running_01"])
        await until(pilot, lambda: pane.rows[0].status == "cancelled")
        assert not key_active(app, "jobs.cancel")


async def test_copy_model_id_and_evaluate_now_that_eval_is_built(tmp_path: Path) -> None:
    client = FakeClient([succeeded_job()])
    app = _app(client, tmp_path)
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: bool(pane.rows) and pane.rows[0].fine_tuned_model != "")
        assert key_active(app, "jobs.copy")
        assert key_active(app, "jobs.eval")  # the Eval pane is built: e hands the model id over
        await pilot.press("y")
        await pilot.pause()
        assert copied == ["peft:Qwen/Qwen3-0.6B:job_done_03"]
        assert any("Copied peft:Qwen/Qwen3-0.6B:job_done_03" in n.message for n in app._notifications)


async def test_level_filter_hides_info_events(tmp_path: Path) -> None:
    client = FakeClient([running_job()])
    app = _app(client, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        log = app.query_one(EventLog)
        await until(pilot, lambda: bool(pane.rows) and len(log.events) == 5)
        await pilot.press("l")
        assert [e.type for e in log.shown()] == ["sft.stand_in"] and log.filter_name == "warnings+"
        assert "(4 hidden)" in str(log.border_title)
        await pilot.press("l", "l")
        assert len(log.shown()) == 5


async def test_a_wrong_key_says_so_and_stops_polling(tmp_path: Path) -> None:
    client = FakeClient([running_job()], auth_error=True)
    app = _app(client, tmp_path, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: pane.state.phase == "auth")
        sent = client.requests_sent
        await pilot.pause(0.4)
        assert client.requests_sent == sent  # 401/403: no more polls until r
        assert "refused the key" in _text(app, "#jobs-empty") and "Traceback" not in _text(app, "#jobs-empty")


async def test_an_unreachable_backend_is_a_sentence_and_retried(tmp_path: Path) -> None:
    calls: list[str] = []

    def refuse(choice: Any) -> Any:
        calls.append(choice.kind)
        raise BackendUnreachable("cannot reach http://127.0.0.1:9/api (connection refused)", "Is it running?")

    app = _app(FakeClient(), tmp_path, open_fn=refuse, poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: pane.state.phase == "error")
        text = _text(app, "#jobs-empty")
        assert "Cannot list the jobs: cannot reach http://127.0.0.1:9/api (connection refused)" in text
        assert "Traceback" not in text
        await until(pilot, lambda: len(calls) >= 2)  # backing off, not giving up


async def test_merely_showing_the_pane_starts_no_local_backend(tmp_path: Path) -> None:
    """The local backend is not running: our records are listed, and r would start it."""
    store = JobStore(tmp_path / "runs.db")
    store.add(JobRecord(backend="local", base_url="http://127.0.0.1:1/api", job_id="job_old", last_status="running"))
    store.close()
    app = SftStudioApp(
        db_path=None, watch_interval=None, candidates=[], pane_options={"jobs": {"store_path": tmp_path / "runs.db"}}
    )
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: pane.state.phase == "offline", timeout=10)
        assert pane.describe_rows() == ["job_old running"]
        assert "r starts it" in _text(app, "#jobs-header")
        assert not (tmp_path / "data" / "backend" / "server.json").exists()


# ---------------------------------------------------------------------------- the real local backend


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    from services.training.server.base_models import parse_stand_ins

    stand_ins = parse_stand_ins(["Qwen/Qwen3-0.6B=sft-studio/tiny-qwen3"])
    with LiveServer(tmp_path / "backend-data", stand_ins=stand_ins) as server:
        yield server


def _workspace(tmp_path: Path) -> None:
    (tmp_path / "configs").mkdir(exist_ok=True)
    shutil.copy(ROOT / "configs" / "crafter_lora_qwen0p6b.toml", tmp_path / "configs" / "lora.toml")
    (tmp_path / "ft_data").mkdir(exist_ok=True)
    (tmp_path / "ft_data" / "crafter.jsonl").write_bytes(jsonl([GOOD_ROW] * 6))
    manifest = {"counts": {"examples": 6}, "token_estimate": 420, "filter": {"min_unique": 1}}
    (tmp_path / "ft_data" / "crafter.manifest.json").write_text(json.dumps(manifest))


def _live_app(live: LiveServer, tmp_path: Path) -> SftStudioApp:
    def resolve(name: str) -> Any:
        return resolve_backend(live.url, environ={"SYNTH_API_KEY": KEY}, cwd=tmp_path)

    options = {
        "backends": ("loopback",),
        "resolve": resolve,
        "store_path": tmp_path / "runs.db",
        "poll_interval": 0.1,
        "config_dir": tmp_path / "configs",
        "data_dir": tmp_path / "ft_data",
    }
    return SftStudioApp(db_path=None, watch_interval=None, candidates=[], pane_options={"jobs": options})


@pytest.mark.slow
async def test_submit_from_the_form_watch_to_succeeded(live: LiveServer, tmp_path: Path) -> None:
    _workspace(tmp_path)
    app = _live_app(live, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: pane.state.phase == "ok")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, SubmitDialog))
        summary = str(app.screen.query_one("#submit-dataset-summary", Static).render())
        assert summary == "6 examples · ~420 tokens · filter: min unique 1"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmSubmitDialog), timeout=60)
        dialog = app.screen
        assert isinstance(dialog, ConfirmSubmitDialog)
        assert dialog.payload["model"] == "Qwen/Qwen3-0.6B" and dialog.payload["metadata"]["submission_id"]
        assert "sk-test" not in " ".join(dialog.lines) + dialog.backend_text
        await pilot.press("y")
        await until(pilot, lambda: any(r.status == "succeeded" for r in pane.rows), timeout=60)
        row = pane.rows[0]
        assert row.ours and row.fine_tuned_model == f"peft:sft-studio/tiny-qwen3:{row.job_id}"
        assert row.dataset == "ft_data/crafter.jsonl"
        await until(pilot, lambda: len(app.query_one(LossChart).train) == 4)
    records = JobStore(tmp_path / "runs.db").list()
    assert [r.job_id for r in records] == [row.job_id]
    assert records[0].last_status == "succeeded" and records[0].fine_tuned_model == row.fine_tuned_model


@pytest.mark.slow
async def test_reattach_after_restart_then_cancel(live: LiveServer, tmp_path: Path) -> None:
    """A job submitted before (recorded in the store) and still running: a new app lists it, polls
    it (progress moves), and cancels it after asking."""
    import httpx

    auth = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=f"{live.url}/api", headers=auth, trust_env=False) as http:
        uploaded = http.post(
            "/files", data={"purpose": "fine-tune"}, files={"file": ("t.jsonl", jsonl([GOOD_ROW] * 4))}
        ).json()
        body = payload(uploaded["id"], fake={"mode": "stream", "steps": 2, "stream_delay": 0.05})
        job_id = http.post("/learning/jobs", json=body).json()["job_id"]
        http.post(f"/learning/jobs/{job_id}/start", json={})
    choice = resolve_backend(live.url, environ={"SYNTH_API_KEY": KEY}, cwd=tmp_path)
    store = JobStore(tmp_path / "runs.db")
    store.add(JobRecord(backend=choice.store_label, base_url=live.url, job_id=job_id, payload=body))
    store.close()

    app = _live_app(live, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: any(r.job_id == job_id and r.ours for r in pane.rows), timeout=60)
        await until(pilot, lambda: pane.views.get(job_id) and (pane.views[job_id].row.progress.step or 0) > 4, 60)
        await until(pilot, lambda: key_active(app, "jobs.cancel"))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("y")
        await until(pilot, lambda: pane.rows[0].status == "cancelled", timeout=60)
    assert JobStore(tmp_path / "runs.db").get(job_id) is not None


def test_fake_client_answers_like_the_real_one() -> None:
    """The snapshot fake returns the service types the pane reads (guards it drifting from the client)."""
    client = FakeClient([running_job()])
    assert isinstance(client.get_job("job_running_01"), JobInfo)
    assert [e.seq for e in client.events("job_running_01", since_seq=3)] == [4, 5]


# ------------------------------------------------------------------------ bad answers, real client


def _stub_app(stub: StubBackend, tmp_path: Path) -> SftStudioApp:
    def resolve(name: str) -> Any:
        return resolve_backend(stub.base_url, environ={"SYNTH_API_KEY": "sk-stub-0123456789abcdef"}, cwd=tmp_path)

    options = {"backends": ("stub",), "resolve": resolve, "store_path": tmp_path / "runs.db", "poll_interval": 0.1}
    return SftStudioApp(db_path=None, watch_interval=None, candidates=[], pane_options={"jobs": options})


@pytest.mark.parametrize(
    ("reply", "phase", "said"),
    [
        (Reply(200, "<html><body><h1>502 Bad Gateway</h1></body></html>"), "error", "no list of jobs"),
        (Reply(200, {"unexpected": True}), "error", "no list of jobs"),
        (Reply(401, {"detail": "invalid api key"}), "auth", "refused the key"),
    ],
    ids=["html", "garbage-json", "wrong-key"],
)
async def test_bad_answers_are_sentences(tmp_path: Path, reply: Reply, phase: str, said: str) -> None:
    """Through the real client: an HTML page, JSON of the wrong shape, a 401; the key never shows."""
    with StubBackend() as stub:
        stub.add_route("GET", "/learning/jobs", lambda request, match: reply)
        app = _stub_app(stub, tmp_path)
        async with app.run_test(size=SIZE) as pilot:
            pane = await show_pane(pilot, "4", JobsPane)
            await until(pilot, lambda: pane.state.phase == phase, timeout=30)
            shown = _text(app, "#jobs-empty") + _text(app, "#jobs-header")
    assert said in shown, shown
    assert "Traceback" not in shown and "sk-stub" not in shown and "0123456789abcdef" not in shown


async def test_a_config_that_fails_its_checks_is_not_sent(tmp_path: Path) -> None:
    """n, a config the CLI would refuse (n_epochs = 0): the form comes back saying why; nothing sent."""
    _workspace(tmp_path)
    text = (tmp_path / "configs" / "lora.toml").read_text()
    (tmp_path / "configs" / "lora.toml").write_text(text.replace("n_epochs = 1", "n_epochs = 0"))
    assert "n_epochs = 0" in (tmp_path / "configs" / "lora.toml").read_text()
    client = FakeClient([])
    app = _app(client, tmp_path, config_dir=tmp_path / "configs", data_dir=tmp_path / "ft_data")
    async with app.run_test(size=SIZE) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: pane.state.phase == "ok")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, SubmitDialog))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, SubmitDialog) and "Not sent" in app.screen.error, 60)
        assert isinstance(app.screen, SubmitDialog)
        assert "n_epochs" in app.screen.error and "Traceback" not in app.screen.error
    assert client.requests_sent > 0 and not client.cancelled


async def test_evaluate_hands_the_model_id_to_the_eval_pane(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """e posts ``JobsPane.EvaluateModel``; the app shows the Eval pane with the model id in its form,
    the local backend chosen (its model list asked for) and the seeds focused, so Enter runs."""
    from textual.widgets import Input

    from tui.panes.eval.pane import EvalPane

    listed: list[bool] = []
    monkeypatch.setattr(EvalPane, "list_models", lambda self, *, start: listed.append(start))
    app = _app(FakeClient([succeeded_job()]), tmp_path)
    seen: list[JobsPane.EvaluateModel] = []
    async with app.run_test(
        size=SIZE, message_hook=lambda m: seen.append(m) if isinstance(m, JobsPane.EvaluateModel) else None
    ) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: bool(pane.rows) and key_active(app, "jobs.eval"))
        await pilot.press("e")
        await until(pilot, lambda: bool(seen) and app.active_pane == "eval")
        assert seen[0].model_id == "peft:Qwen/Qwen3-0.6B:job_done_03" and seen[0].job_id == "job_done_03"
        await until(pilot, lambda: True in listed)  # asked to list (and start) the local backend
        model = app.query_one("#eval-model", Input)
        assert model.value == "peft:Qwen/Qwen3-0.6B:job_done_03"
        assert app.focused is app.query_one("#eval-seeds", Input)


async def test_at_80x24_enter_opens_the_detail_and_escape_comes_back(tmp_path: Path) -> None:
    client = FakeClient([running_job(), failed_job()])
    app = _app(client, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await show_pane(pilot, "4", JobsPane)
        await until(pilot, lambda: len(pane.rows) == 2)
        table = app.query_one("#jobs-table", DataTable)
        assert pane.has_class("-narrow") and table.display and app.focused is table
        await pilot.press("down", "enter")
        await until(pilot, lambda: pane.has_class("-detail"))
        assert not table.display and isinstance(app.focused, EventLog)
        assert app.query_one(JobDetail).job_id == "job_failed_02"
        await pilot.press("escape")
        await until(pilot, lambda: not pane.has_class("-detail"))
        assert app.focused is table and table.display
