"""Faults during `collect`: signals, failing preflights, bad answers, unusable DBs (issue 11).

Signal runs record how many runs were made and what was left behind in ``SIGNAL_FIGURES`` (printed
with ``-s``), for the issue's closing note.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.rollouts.collector import CollectError, CollectProgress, CollectResult, CollectSpec, collect
from tests.support.fake_inference import FakeInferenceServer
from tests.support.paths import ROOT

#: (signal name, runs, stray processes, stray files), appended by the signal test.
SIGNAL_FIGURES: list[tuple[str, int, int, int]] = []


def _rows(db: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


def _sessions(db: Path) -> int:
    try:
        return int(_rows(db, "SELECT COUNT(*) FROM session_traces")[0][0])
    except sqlite3.Error:
        return 0


def _assert_consistent(db: Path) -> None:
    """integrity_check ok; every session has all its timesteps, events and one outcome row."""
    with sqlite3.connect(db) as conn:  # read-write: a hot journal left by SIGKILL is rolled back here
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        for sid, n_steps, n_events in conn.execute("SELECT session_id, num_timesteps, num_events FROM session_traces"):
            steps = conn.execute("SELECT COUNT(*) FROM session_timesteps WHERE session_id = ?", (sid,)).fetchone()
            events = conn.execute("SELECT COUNT(*) FROM events WHERE session_id = ?", (sid,)).fetchone()
            outcomes = conn.execute("SELECT COUNT(*) FROM outcome_rewards WHERE session_id = ?", (sid,)).fetchone()
            assert (steps[0], events[0], outcomes[0]) == (n_steps, n_events, 1), sid
    conn.close()


#: The first 8 bytes of a rollback journal whose header SQLite has written (see sqlite's pager.c).
_JOURNAL_MAGIC = bytes([0xD9, 0xD5, 0x05, 0xF9, 0x20, 0xA1, 0x63, 0xD7])


def _is_hot_journal(path: Path) -> bool:
    """Whether a rollback journal carries a header, i.e. could roll the DB back on the next open."""
    with path.open("rb") as fh:
        return fh.read(8) == _JOURNAL_MAGIC


def _children() -> dict[int, int]:
    """pid -> parent pid of every process we can see."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def _descendants(pid: int) -> set[int]:
    parents = _children()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    env.pop("SFT_STUDIO_INFERENCE_API_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _start_collect(db: Path, log: Path) -> subprocess.Popen[bytes]:
    """The CLI collecting into ``db``; its output goes to a file (a stray helper holding a pipe
    would make reading it hang, which is the bug and not the report we want)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "collect", "--db", str(db), "--policy", "random", "--seeds", "0-199",
             "--max-turns", "30", "--concurrency", "2"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("signame", ["SIGKILL", "SIGTERM", "SIGINT"])
def test_signal_mid_collection_leaves_no_process_no_file_and_a_consistent_db(tmp_path: Path, signame: str) -> None:
    """Killed or stopped mid-collection: the world-prefetch helpers (and no resource tracker) go with
    the collector, no file but the DB stays, every recorded session is whole; SIGTERM says
    "Interrupted" like Ctrl-C and exits 143."""
    runs, stray_procs, stray_files = 2, 0, 0
    for run in range(runs):
        folder = tmp_path / f"run{run}"
        folder.mkdir()
        db = folder / "t.db"
        log = tmp_path / f"run{run}.log"
        proc = _start_collect(db, log)
        helpers: set[int] = set()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            helpers |= _descendants(proc.pid)
            if helpers and db.exists() and _sessions(db) >= 1:
                break
            time.sleep(0.1)
        assert proc.poll() is None, log.read_text()
        helpers |= _descendants(proc.pid)
        assert helpers, "the collection started no world-prefetch helper: the test proves nothing"
        proc.send_signal(getattr(signal, signame))
        proc.wait(timeout=60)
        err = log.read_text()
        if signame == "SIGTERM":
            assert proc.returncode == 143, err
        elif signame == "SIGINT":
            assert proc.returncode == 130, err
        if signame != "SIGKILL":
            assert "Interrupted" in err and "Traceback" not in err, err
        left = _alive(helpers)
        deadline = time.monotonic() + 10  # the kernel's parent-death signal is prompt; allow for load
        while left and time.monotonic() < deadline:
            time.sleep(0.1)
            left = _alive(helpers)
        stray_procs += len(left)
        for pid in left:  # do not leave them to the next test
            os.kill(pid, signal.SIGKILL)
        _assert_consistent(db)
        others = sorted(p.name for p in folder.iterdir() if p.name != "t.db")
        if signame == "SIGKILL" and "t.db-journal" in others:
            # SIGKILL can land after SQLite created its rollback journal but before it wrote the
            # header: a cold (empty or unheadered) journal that SQLite ignores and reuses on the next
            # write. A hot one would have been rolled back and deleted by _assert_consistent's open.
            assert not _is_hot_journal(folder / "t.db-journal"), "a hot journal survived recovery"
            others.remove("t.db-journal")
        stray_files += len(others)
        assert not left, f"{len(left)} helper process(es) outlived the collector"
        assert others == [], others
    SIGNAL_FIGURES.append((signame, runs, stray_procs, stray_files))
    print(f"\n{signame}: runs={runs} stray processes={stray_procs} stray files={stray_files}")


# ---- a failed preflight leaves nothing (item 5), hung servers and retries said as they happen (item 13)


def _collect(db: Path, url: str, model: str = "m", **kwargs: Any) -> CollectResult:
    spec = CollectSpec(db=db, policy="openai", model=model, inference_url=url, seeds=(0, 0), max_turns=3, **kwargs)
    return collect(spec)


@pytest.mark.parametrize("fault", ["unreachable", "401", "hung", "500", "unknown model"])
def test_failed_preflight_creates_no_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    """Nothing is written before the first episode is about to be recorded: no DB, no folder, no file."""
    monkeypatch.setenv("SFT_STUDIO_INFERENCE_API_KEY", "sk-wrong-key-123456")
    db = tmp_path / "traces" / "v3" / "t.db"
    server = {
        "401": FakeInferenceServer(models=["m"], api_key="sk-right"),
        "hung": FakeInferenceServer(models=["m"], mode="hang", hang_s=5),
        "500": FakeInferenceServer(models=["m"], mode="always_500", models_endpoint=False, retry_after="0"),
        "unknown model": FakeInferenceServer(models=["a", "b"]),
    }.get(fault)
    expected = {
        "unreachable": "Cannot reach",
        "401": "rejected the API key",
        "hung": "accepted the connection but did not answer within 1 s",
        "500": "keeps failing",
        "unknown model": "not served",
    }[fault]
    if server is None:
        with pytest.raises(CollectError, match=expected):
            _collect(db, "http://127.0.0.1:9")
    else:
        with server, pytest.raises(CollectError, match=expected) as info:
            _collect(db, server.base_url, timeout_s=1)
        assert "Cannot reach" not in str(info.value)  # a server that answered (or hung) was reached
    assert not db.exists()
    assert list(tmp_path.iterdir()) == []


def test_an_unusable_db_is_named_in_words(tmp_path: Path) -> None:
    """A look-alike DB is "not a synth-ai trace DB" (not `near ")": syntax error`); a folder that cannot
    take the file is named with the cause (not "unable to open database file")."""
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE session_traces (id INTEGER PRIMARY KEY, note TEXT)")
        conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE session_timesteps (id INTEGER PRIMARY KEY)")
    conn.close()
    before = other.read_bytes()
    result = _cli("collect", "--db", str(other), "--policy", "random", "--seeds", "0-0", "--max-turns", "2")
    assert result.returncode == 1
    assert "not a synth-ai trace DB" in result.stderr and "syntax error" not in result.stderr
    assert "Traceback" not in result.stderr
    assert other.read_bytes() == before


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder no file can be created in: chmod for a normal user; a read-only tmpfs for root."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip("running as root and cannot mount a read-only file system here")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], capture_output=True, check=False)


def test_a_read_only_folder_is_named_with_its_cause(read_only_folder: Path) -> None:
    db = read_only_folder / "t.db"
    result = _cli("collect", "--db", str(db), "--policy", "random", "--seeds", "0-0", "--max-turns", "2")
    assert result.returncode == 1, result.stderr
    assert f"Cannot create a trace DB in {read_only_folder}" in result.stderr
    assert "read-only" in result.stderr or "not writable" in result.stderr
    assert "unable to open database file" not in result.stderr and "Traceback" not in result.stderr


def test_server_errors_are_announced_as_they_happen(tmp_path: Path) -> None:
    """A 500-answering server: each retry is a line on stderr (CLI) and a progress notice (app)."""
    db = tmp_path / "t.db"
    notes: list[str | None] = []
    with FakeInferenceServer(models=["m"], mode="always_500", retry_after="0") as srv:
        spec = CollectSpec(db=db, policy="openai", model="m", inference_url=srv.base_url, seeds=(0, 0), max_turns=2)
        with pytest.raises(CollectError, match="failed after 7 attempts: HTTP 500"):
            collect(spec, lambda p: notes.append(p.notice) if p.notice else None)
        assert len(notes) == 6 and all(n and "HTTP 500" in n and "retry" in n for n in notes)
        assert "retry 1/6" in str(notes[0]) and "retry 6/6" in str(notes[-1])
        result = _cli("collect", "--db", str(db), "--policy", "openai", "--model", "m",
                      "--inference-url", srv.base_url, "--seeds", "0-0", "--max-turns", "2")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("Retrying:") == 6, result.stderr
    assert result.stderr.index("Retrying:") < result.stderr.index("Error:")
    assert not db.exists()


def test_progress_line_shows_the_latest_retry() -> None:
    from tui.panes.traces.collect_progress import progress_text

    p = CollectProgress(episodes_total=3, server_retries=2, notice="Inference call failed (HTTP 500); retry 2/6")
    assert "retry 2: Inference call failed (HTTP 500); retry 2/6" in progress_text(p)
    assert "retry" not in progress_text(CollectProgress(episodes_total=3))


def test_a_huge_model_name_is_capped_in_messages(tmp_path: Path) -> None:
    huge = "m" * 10_000_000
    with FakeInferenceServer(models=["a"]) as srv, pytest.raises(CollectError) as info:
        _collect(tmp_path / "t.db", srv.base_url, model=huge)
    message = str(info.value)
    assert "not served" in message and len(message) < 1000 and "10,000,000 characters" in message


# ---- 200 answers that are not chat completions (item 10)


@pytest.mark.parametrize("mode", ["not_json", "not_completion"])
def test_a_200_that_is_not_a_chat_completion_is_a_server_fault(tmp_path: Path, mode: str) -> None:
    """Retried, then the run stops before recording anything; the seeds stay free for a rerun."""
    db = tmp_path / "t.db"
    with FakeInferenceServer(models=["m"], mode=mode, retry_after="0") as srv:
        spec = CollectSpec(db=db, policy="openai", model="m", inference_url=srv.base_url, seeds=(0, 1), max_turns=3)
        with pytest.raises(CollectError) as info:
            collect(spec)
    expected = "the body is not JSON" if mode == "not_json" else "not a chat completion"
    assert expected in str(info.value) and "after 7 attempts" in str(info.value)
    assert not db.exists()
    with FakeInferenceServer(models=["m"]) as good:
        again = collect(spec.model_copy(update={"inference_url": good.base_url}))
    assert again.progress.episodes_done == 2 and again.progress.episodes_skipped == 0


def test_an_episode_without_any_model_answer_is_not_recorded(tmp_path: Path) -> None:
    """200s holding no assistant message: the episode is played but not recorded, the summary says so,
    and a rerun against a working server records those seeds."""
    db = tmp_path / "t.db"
    with FakeInferenceServer(models=["m"], mode="empty_choices") as srv:
        args = ("collect", "--db", str(db), "--policy", "openai", "--model", "m", "--seeds", "0-1", "--max-turns", "3")
        result = _cli(*args, "--inference-url", srv.base_url)
    assert result.returncode == 0, result.stderr
    assert "Recorded 0 episode(s)" in result.stdout
    assert "2 episode(s) not recorded: none of their decisions got an answer from the model" in result.stdout
    assert not db.exists() or _sessions(db) == 0
    with FakeInferenceServer(models=["m"]) as good:
        rerun = _cli(*args, "--inference-url", good.base_url)
    assert "Recorded 2 episode(s)" in rerun.stdout and "skipped" not in rerun.stdout, rerun.stdout


# ---- keys inside the URL (item 12)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/v1?api_key=sk-live-0123456789abcdef",
        "http://user:sk-live-0123456789abcdef@127.0.0.1:9",
        "http://sk-live-0123456789abcdef@127.0.0.1:9",
        "ftp://x/?token=sk-live-0123456789abcdef",
    ],
)
def test_a_key_inside_the_url_is_never_printed(tmp_path: Path, url: str) -> None:
    result = _cli("collect", "--db", str(tmp_path / "t.db"), "--policy", "openai", "--model", "m",
                  "--inference-url", url, "--seeds", "0-0", "--max-turns", "2")  # fmt: skip
    assert result.returncode in (1, 2)
    assert "sk-live-0123456789abcdef" not in result.stdout + result.stderr
    assert "sk-li…ef" in result.stderr, result.stderr
    assert not (tmp_path / "t.db").exists()


def test_mask_url_masks_userinfo_query_and_fragment_values() -> None:
    from services.common.secrets import mask_url, redact, url_secrets

    url = "https://me:sk-live-0123456789abcdef@h.example:8000/v1?api_key=sk-q-0123456789abcdef&v=2#t=tok-0123456789abc"
    shown = mask_url(url)
    assert "sk-live-0123456789abcdef" not in shown and "sk-q-0123456789abcdef" not in shown
    assert "tok-0123456789abc" not in shown
    assert shown.startswith("https://****:sk-li…ef@h.example:8000/v1?api_key=sk-q-…ef&v=****#t=")
    text = f"ConnectError for url '{url}'"
    assert "0123456789" not in redact(text, url_secrets(url))
    assert mask_url("http://localhost:8000/v1") == "http://localhost:8000/v1"


# ---- the same in the app: retries shown as they happen, keys in the URL masked (items 12, 13)


async def test_the_app_shows_retries_as_they_happen_and_masks_a_key_in_the_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from textual.widgets import Input

    from tests.support.pilot import SIZE, make_app, settle, until
    from tests.support.tracegen import build_db
    from tui.panes.traces.collect_form import CollectForm
    from tui.panes.traces.collect_progress import CollectStrip
    from tui.panes.traces.pane import TracesPane

    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("SFT_STUDIO_INFERENCE_API_KEY", raising=False)
    db = build_db(tmp_path / "traces/v3/synth_ai.db", sessions=2, decisions=2)
    app = make_app(db)

    async def start(url: str) -> None:
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CollectForm))
        await pilot.press("right", "right")  # the openai policy
        for field, text in {"model": "m", "url": url, "seeds": "0-0", "max_turns": "2"}.items():
            app.screen.query_one(f"#collect-{field}", Input).value = text
        app.simulate_key("enter")
        await pilot.pause(0.05)

    with FakeInferenceServer(models=["m"], mode="flaky", flaky_failures=2, flaky_status=500, retry_after="2") as srv:
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            pane = app.query_one(TracesPane)
            await start(srv.base_url)
            strip = app.query_one(CollectStrip)
            await until(pilot, lambda: "retry " in strip.figures and "HTTP 500" in strip.figures, timeout=30)
            await until(pilot, lambda: pane.last_summary is not None, timeout=60)
            text, severity = pane.last_summary or ("", "")
            assert severity != "error" and "2 inference calls retried" in text, text
            pane.last_summary = None
            await start("http://user:sk-live-0123456789abcdef@127.0.0.1:9")
            await until(pilot, lambda: pane.last_summary is not None, timeout=60)
            text, severity = pane.last_summary or ("", "")
            assert severity == "error" and "Cannot reach" in text and "sk-li…ef" in text
            assert "sk-live-0123456789abcdef" not in text
