"""The collector: what it records, reruns, bad input, interruption and a full disk."""

from __future__ import annotations

import functools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import services.rollouts.collector as collector_mod
from services.rollouts.collector import CollectError, CollectSpec, collect
from services.traces.achievement_keys import KeyStyle
from services.traces.db import TraceDBError
from services.traces.writer import TraceWriter
from tests.support.fake_inference import FakeInferenceServer
from tests.support.paths import ROOT


def _rows(db: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def _assert_sessions_complete(db: Path) -> None:
    """Every session has all its timesteps, two events per decision and exactly one outcome row."""
    assert _rows(db, "PRAGMA integrity_check") == [("ok",)]
    for sid, n_steps, n_events in _rows(db, "SELECT session_id, num_timesteps, num_events FROM session_traces"):
        assert _rows(db, f"SELECT COUNT(*) FROM session_timesteps WHERE session_id = '{sid}'") == [(n_steps,)]
        assert _rows(db, f"SELECT COUNT(*) FROM events WHERE session_id = '{sid}'") == [(n_events,)]
        assert _rows(db, f"SELECT COUNT(*) FROM outcome_rewards WHERE session_id = '{sid}'") == [(1,)]


def test_teacher_episode_is_recorded_like_the_task_app(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    result = collect(CollectSpec(db=db, policy="teacher", seeds=(3, 4), max_turns=12, concurrency=2))
    assert result.stopped is None and result.progress.episodes_done == 2
    assert sorted(result.session_ids) == ["teacher-sft-studio-teacher-seed00003-run0",
                                          "teacher-sft-studio-teacher-seed00004-run0"]  # fmt: skip
    _assert_sessions_complete(db)
    sid = result.session_ids[0]
    steps = _rows(db, f"SELECT step_id, turn_number FROM session_timesteps WHERE session_id='{sid}' ORDER BY id")
    assert steps[0] == ("decision_0", 0)
    lm = _rows(db, f"SELECT model_name, provider, call_records, metadata FROM events "
                   f"WHERE session_id='{sid}' AND event_type='cais' ORDER BY id")  # fmt: skip
    assert len(lm) == len(steps)
    model, provider, records, meta = lm[0]
    assert (model, provider) == ("sft-studio/teacher", "local")
    record = json.loads(records)[0]
    assert record["input_messages"][0]["role"] == "system"
    assert record["input_messages"][1]["parts"][0]["text"].startswith("=== CRAFTER GAME STATE ===")
    assert record["output_tool_calls"][0]["name"] == "interact_many"
    assert json.loads(meta)["turn"] == 0
    env = _rows(db, f"SELECT system_state_before, metadata FROM events WHERE session_id='{sid}' "
                    "AND event_type='environment' ORDER BY id")  # fmt: skip
    assert json.loads(env[0][0])["text"].startswith("=== CRAFTER GAME STATE ===")
    kinds = {r[0] for r in _rows(db, f"SELECT reward_type FROM event_rewards WHERE session_id='{sid}'")}
    assert "achievement_delta" in kinds
    deltas = _rows(
        db, f"SELECT COUNT(*) FROM event_rewards WHERE session_id='{sid}' AND reward_type='achievement_delta'"
    )
    assert deltas == [(len(steps),)]  # one per decision, even when 0
    unique = _rows(db, f"SELECT annotation FROM event_rewards WHERE session_id='{sid}' "
                       "AND reward_type='unique_achievement_delta'")  # fmt: skip
    unlocked = [a for (ann,) in unique for a in json.loads(ann)["achievements"]]
    (meta_text,) = _rows(db, f"SELECT reward_metadata FROM outcome_rewards WHERE session_id='{sid}'")[0]
    final = json.loads(meta_text)["final_achievements"]
    assert sorted(unlocked) == sorted(final) and len(final) >= 1


def test_rerun_skips_recorded_sessions_and_tag_records_again(tmp_path: Path) -> None:
    spec = CollectSpec(db=tmp_path / "t.db", policy="random", seeds=(0, 2), max_turns=3)
    assert collect(spec).progress.episodes_done == 3
    again = collect(spec)
    assert (again.progress.episodes_done, again.progress.episodes_skipped) == (0, 3)
    tagged = collect(spec.model_copy(update={"tag": "second pass"}))
    assert tagged.progress.episodes_done == 3
    assert _rows(spec.db, "SELECT COUNT(*) FROM session_traces") == [(6,)]


def test_reference_key_option(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    collect(CollectSpec(db=db, policy="teacher", seeds=(0, 0), max_turns=10, key_style=KeyStyle.REFERENCE))
    (meta,) = _rows(db, "SELECT reward_metadata FROM outcome_rewards")[0]
    assert "achievements" in json.loads(meta) and "final_achievements" not in json.loads(meta)
    anns = [json.loads(a) for (a,) in _rows(db, "SELECT annotation FROM event_rewards WHERE reward_type LIKE '%delta'")]
    assert all(("new_unique" in a) or ("turned_true" in a) for a in anns)


@pytest.mark.parametrize(
    ("spec_kwargs", "message"),
    [
        ({"policy": "openai", "inference_url": "http://127.0.0.1:9"}, "--model is required"),
        ({"policy": "openai", "model": "m"}, "--inference-url is required"),
        ({"policy": "openai", "model": "m", "inference_url": "ftp://x"}, "http"),
        ({"seeds": (5, 1)}, "empty"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
def test_bad_input_is_refused_before_any_episode(tmp_path: Path, spec_kwargs: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(CollectError, match=message):
        collect(CollectSpec(db=tmp_path / "t.db", max_turns=2, **spec_kwargs))


def test_unknown_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        CollectSpec(db=tmp_path / "t.db", policy="genius")  # type: ignore[arg-type]


def test_unreachable_and_401_inference_fail_in_preflight(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "t.db"
    with pytest.raises(CollectError, match="Cannot reach"):
        collect(CollectSpec(db=db, policy="openai", model="m", inference_url="http://127.0.0.1:9", max_turns=2))
    monkeypatch.setenv("SFT_STUDIO_INFERENCE_API_KEY", "sk-wrong-key-123456")
    with FakeInferenceServer(models=["m"], api_key="sk-right") as srv:
        with pytest.raises(CollectError, match="401") as info:
            collect(CollectSpec(db=db, policy="openai", model="m", inference_url=srv.base_url, max_turns=2))
        assert srv.chat_count == 0  # stopped before any episode
    assert "sk-wrong-key-123456" not in str(info.value)
    assert not db.exists()  # a failed preflight creates no DB (issue 11 item 5)


def test_unknown_model_fails_in_preflight(tmp_path: Path) -> None:
    with FakeInferenceServer(models=["a", "b"]) as srv, pytest.raises(CollectError, match="not served"):
        collect(CollectSpec(db=tmp_path / "t.db", policy="openai", model="zzz", inference_url=srv.base_url))


def test_model_that_never_calls_the_tool_is_counted_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SFT_STUDIO_INFERENCE_API_KEY", raising=False)
    db = tmp_path / "t.db"
    with FakeInferenceServer(models=["chatty"], mode="no_tool", text="I think I will explore.") as srv:
        result = collect(CollectSpec(db=db, policy="openai", model="chatty", inference_url=srv.base_url,
                                     seeds=(0, 0), max_turns=4))  # fmt: skip
    assert result.progress.tool_call_failures == 4 and result.progress.episodes_done == 1
    metas = [json.loads(m) for (m,) in _rows(db, "SELECT metadata FROM events WHERE event_type='cais' ORDER BY id")]
    assert len(metas) == 4 and all(m["tool_call_ok"] is False and m["problem"] for m in metas)
    assert all(m["executed_actions"] == ["noop"] for m in metas)
    _assert_sessions_complete(db)


def test_http_policy_records_vendor_shaped_traces(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with FakeInferenceServer(models=["qwen/qwen3-32b"]) as srv:
        result = collect(CollectSpec(db=db, policy="openai", model="qwen/qwen3-32b", inference_url=srv.base_url,
                                     seeds=(0, 1), max_turns=3, concurrency=2))  # fmt: skip
    assert result.progress.episodes_done == 2 and result.progress.tool_call_failures == 0
    assert _rows(db, "SELECT DISTINCT model_name, provider FROM events WHERE event_type='cais'") == [
        ("qwen/qwen3-32b", "custom")
    ]


def test_db_path_not_writable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(TraceDBError, match="Cannot create a trace DB"):
        collect(CollectSpec(db=blocker / "traces" / "t.db", max_turns=2))
    with pytest.raises(TraceDBError, match="it is a directory"):
        collect(CollectSpec(db=tmp_path, max_turns=2))


def test_refuses_to_write_into_a_non_trace_sqlite_db(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE mine (x)")
    with pytest.raises(TraceDBError, match="refusing to write"):
        collect(CollectSpec(db=other, max_turns=2))


def test_disk_full_mid_run_keeps_finished_sessions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "t.db"
    collect(CollectSpec(db=db, policy="random", seeds=(0, 0), max_turns=20))
    pages = _rows(db, "PRAGMA page_count")[0][0]
    # room for roughly two more episodes, not for twenty
    monkeypatch.setattr(collector_mod, "TraceWriter", functools.partial(TraceWriter, max_pages=pages * 3))
    result = collect(CollectSpec(db=db, policy="random", seeds=(1, 20), max_turns=20, concurrency=1))
    assert result.stopped is not None and "full" in result.stopped
    assert 1 <= result.progress.episodes_done < 20
    count = _rows(db, "SELECT COUNT(*) FROM session_traces")[0][0]
    assert count == 1 + result.progress.episodes_done
    _assert_sessions_complete(db)


def test_stop_request_keeps_finished_episodes(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    state = {"decisions": 0}

    def should_stop() -> bool:
        state["decisions"] += 1
        return state["decisions"] > 25

    result = collect(CollectSpec(db=db, policy="random", seeds=(0, 9), max_turns=10, concurrency=1), None, should_stop)
    assert result.stopped == "stopped on request"
    assert result.progress.episodes_done == 2
    assert _rows(db, "SELECT COUNT(*) FROM session_traces") == [(2,)]
    _assert_sessions_complete(db)


@pytest.mark.slow
def test_ctrl_c_in_the_cli_keeps_a_consistent_db(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "collect", "--db", str(db), "--policy", "random", "--seeds", "0-199",
         "--max-turns", "30", "--concurrency", "2"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.2)
        if db.exists() and _rows(db, "SELECT COUNT(*) FROM session_traces")[0][0] >= 2:
            break
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    _assert_sessions_complete(db)
    assert 2 <= _rows(db, "SELECT COUNT(*) FROM session_traces")[0][0] < 200


PREFETCH_UNDER_AN_APP = """
import asyncio, sys
sys.path.insert(0, {root!r})

class Captured:  # what a full-screen app (Textual) puts in sys.stderr: no file descriptor
    def write(self, text): return len(text)
    def flush(self): pass
    def fileno(self): return -1

sys.stderr = Captured()
from services.crafter.env import world_is_cached
from services.rollouts.collector import _WorldPrefetch

prefetch = _WorldPrefetch(list(range(6)), workers=1)
ok = len(prefetch.workers) == 1
asyncio.run(prefetch.ready(0))
prefetch.close()
print(ok, world_is_cached(0), sys.stderr is not sys.__stderr__)
"""


def test_world_prefetch_starts_under_a_captured_stderr() -> None:
    """Inside the app sys.stderr has no descriptor; prefetch used to fail there silently (every world was
    then built in the app's own process, ~1.7x slower demo build). It starts, and stderr is put back."""
    code = PREFETCH_UNDER_AN_APP.format(root=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["True", "True", "True"], done.stderr
