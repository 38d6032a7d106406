"""The Runs pane (issue 15) on a ledger filled by ``runs_ledger.fill_ledger``: sort, filter, mark and
compare (one axis vs several), lineage (with a changed dataset flagged NOT TRUSTED), export of the
table and of a comparison, and an empty, a corrupt and a newer ledger said in the pane."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Input, Static

from tests.support.pilot import SIZE, make_app, show_pane, until
from tests.tui.runs_ledger import FILTERED, LORA, UNFILTERED, fill_ledger
from tui.panes.runs.curves import LossCurves
from tui.panes.runs.pane import EMPTY_HELP, RunsPane
from tui.widgets.compare_bars import CompareBars
from tui.widgets.virtual_table import VirtualTable


def _text(widget: Static) -> str:
    """What the widget shows, as plain text (a Rich renderable printed wide)."""
    from rich.console import Console

    visual = widget.render()
    renderable = getattr(visual, "_renderable", None)
    if renderable is None:
        return str(visual)
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def _app(ledger: Path, exports: Path) -> Any:
    return make_app(None, pane_options={"runs": {"ledger_path": ledger, "export_dir": exports}})


async def _shown(pilot: Any) -> RunsPane:
    pane = await show_pane(pilot, "6", RunsPane)
    await until(pilot, lambda: pane.loads >= 1)
    await pilot.pause()
    return pane


def _ids(pane: RunsPane) -> list[str]:
    return pane.query_one("#runs-table", VirtualTable).keys


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return fill_ledger(tmp_path, monkeypatch)


async def test_sort_by_the_cursor_column_and_filter(ledger: Path, tmp_path: Path) -> None:
    app = _app(ledger, tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        pane = await _shown(pilot)
        assert len(_ids(pane)) == 5 and app.focused is pane.query_one("#runs-table")
        await pilot.press("right", "right")  # mark, run, score
        await pilot.press("s")
        await pilot.pause()
        assert _ids(pane)[:3] == [FILTERED, LORA, UNFILTERED]  # best score first
        assert "sorted by score" in _text(pane.query_one("#runs-header", Static))
        await pilot.press("s")
        await pilot.pause()
        assert _ids(pane)[0] == "sft-studio/random"  # reversed
        await pilot.press("right", "right", "right", "right", "s")  # rank: the one LoRA run first, empties last
        await pilot.pause()
        assert _ids(pane)[0] == LORA

        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"teacher")
        await pilot.pause()
        assert sorted(_ids(pane)) == sorted([FILTERED, LORA])
        assert "(2 shown)" in _text(pane.query_one("#runs-header", Static))
        await pilot.press("space", "z", "z")  # every word must match
        await pilot.pause()
        assert _ids(pane) == [] and "No run matches" in _text(pane.query_one("#runs-message", Static))
        await pilot.press("escape")
        assert app.focused is pane.query_one("#runs-table")


async def test_mark_and_compare_one_axis_then_several(ledger: Path, tmp_path: Path) -> None:
    app = _app(ledger, tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        pane = await _shown(pilot)
        ids = _ids(pane)
        assert not pane.check_action("compare", ())
        table = pane.query_one("#runs-table", VirtualTable)
        for run_id in (FILTERED, UNFILTERED):
            table.move_cursor(row=ids.index(run_id))
            await pilot.press("space")
        assert pane.marked == [FILTERED, UNFILTERED] and pane.check_action("compare", ())
        await pilot.pause()
        # The mark column (3 cells wide, left of the run) numbers the runs in the order they were marked.
        shown = {run_id: table.render_line(1 + i).text[:3].strip() for i, run_id in enumerate(table.keys)}
        assert shown[FILTERED] == "1" and shown[UNFILTERED] == "2" and shown[LORA] == ""
        await pilot.press("c")
        await until(pilot, lambda: pane.comparison is not None)
        c = pane.comparison
        assert c is not None and c.comparison.axes == ["data"] and not c.comparison.warnings
        assert "One axis differs: data" in _text(pane.query_one("#runs-compare-settings", Static))
        assert [label for label, _ in pane.query_one(LossCurves).curves] == ["fft:…:job_filtered", "fft:…:job_all"]
        scores = _text(pane.query_one("#runs-compare-scores", Static))
        assert "-1.66 [-3.19, -0.36]" in scores and "paired on 10 seeds: worse" in scores
        bars = [b for b in pane.query(CompareBars) if b.display]
        assert len(bars) == 1 and len(bars[0].rows) == 22
        # the data behind each change: this ledger's trace DB is not on disk, so nothing is counted
        (link,) = c.data_links
        assert link.data.state == "missing" and link.rows and all(r.examples is None for r in link.rows)
        data = _text(pane.query_one("#runs-compare-data", Static))
        assert "fft:…:job_all vs fft:…:job_filtered" in data and "Not counted" in data and "not on disk" in data
        assert link.rows[0].name in data and f"{100 * link.rows[0].delta:+.0f}" in data

        await pilot.press("e")  # the comparison shown is what gets exported
        await until(pilot, lambda: bool(pane.exported))
        assert [p.name for p in pane.exported] == ["runs-comparison.csv", "runs-comparison.md"]
        rows = list(csv.reader(io.StringIO(pane.exported[0].read_text())))
        assert rows[0] == ["setting", FILTERED, UNFILTERED, "differs"]
        assert ["data.examples", "120", "300", "yes"] in rows
        assert "runs-comparison.md" in _text(pane.query_one("#runs-note", Static))

        await pilot.press("escape")
        assert pane.query_one("#runs-views").current == "runs-table-view"  # type: ignore[attr-defined]
        table.move_cursor(row=ids.index(LORA))
        await pilot.press("space", "c")
        await until(pilot, lambda: pane.comparison is not c)
        warnings = pane.comparison.comparison.warnings  # type: ignore[union-attr]
        assert warnings and "axes differ" in warnings[0] and "one axis at a time" in warnings[0]
        assert "one axis at a time" in _text(pane.query_one("#runs-compare-settings", Static))
        assert len([b for b in pane.query(CompareBars) if b.display]) == 2
        assert len(pane.comparison.data_links) == 2  # type: ignore[union-attr]


async def test_compare_links_achievements_to_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real exports of a generated trace DB (``tests/support/linked_ledger.py``): the section counts,
    per achievement gained or lost, the training examples and sessions that reached it."""
    from tests.support.linked_ledger import ALL, GOOD, build_linked_ledger, expected_counts

    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    linked = build_linked_ledger(tmp_path)
    app = _app(linked.ledger, tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        pane = await _shown(pilot)
        ids = _ids(pane)
        table = pane.query_one("#runs-table", VirtualTable)
        for run_id in (ALL, GOOD):
            table.move_cursor(row=ids.index(run_id))
            await pilot.press("space")
        await pilot.press("c")
        await until(pilot, lambda: pane.comparison is not None)
        data = _text(pane.query_one("#runs-compare-data", Static))
    good = expected_counts(linked.db, linked.data[GOOD])
    assert "fft:…:job_good vs fft:…:job_all, 4 common seeds" in data and "Not counted" not in data
    lines = linked.data[GOOD].read_text().splitlines()
    sessions = {json.loads(line)["metadata"]["session_id"] for line in lines}
    assert f"{len(lines)} examples from {len(sessions)} sessions" in data
    row = next(line.split() for line in data.splitlines() if line.strip().startswith("place_table"))
    examples, reached = good["place_table"]
    assert row[:5] == ["place_table", "50%", "0%", "+50", str(examples)]
    assert row[6] == str(reached) and len(row) == 12  # the base's examples and sessions too


async def test_at_most_four_marked(ledger: Path, tmp_path: Path) -> None:
    app = _app(ledger, tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        pane = await _shown(pilot)
        for _ in range(4):
            await pilot.press("space", "down")
        assert pane.marked == _ids(pane)[:4] and pane.check_action("compare", ())
        await pilot.press("space")  # the fifth
        assert pane.marked == _ids(pane)[:4]
        await until(pilot, lambda: bool(app._notifications))
        assert "At most 4" in list(app._notifications)[-1].message
        await pilot.press("up", "space")  # space again unmarks
        assert pane.marked == _ids(pane)[:3]


async def test_lineage_and_a_changed_dataset(ledger: Path, tmp_path: Path) -> None:
    app = _app(ledger, tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        pane = await _shown(pilot)
        pane.query_one("#runs-table", VirtualTable).move_cursor(row=_ids(pane).index(FILTERED))
        await pilot.press("l")
        await until(pilot, lambda: pane.lineage is not None)
        text = _text(pane.query_one("#runs-lineage-text", Static))
        order = ["Eval 20261201-120500-job_filtered", "Model " + FILTERED, "Job job_filtered", "Dataset",
                 "Filter", "min_unique=4 policies=teacher", "Trace DB traces/v3/synth_ai.db"]  # fmt: skip
        positions = [text.index(part) for part in order]
        assert positions == sorted(positions) and "matches its manifest" in text and "NOT TRUSTED" not in text
        assert "teacher_min4.jsonl" in text and "sha256 " in text

        (tmp_path / "ft_data" / "teacher_min4.jsonl").write_text("edited\n")
        await pilot.press("escape", "l")
        await until(pilot, lambda: "NOT TRUSTED" in _text(pane.query_one("#runs-lineage-text", Static)))


async def test_export_the_table_as_shown(ledger: Path, tmp_path: Path) -> None:
    app = _app(ledger, tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        pane = await _shown(pilot)
        await pilot.press("slash", *"fft", "enter", "e")
        await until(pilot, lambda: bool(pane.exported))
        csv_path, md_path = pane.exported
        assert csv_path == tmp_path / "exports" / "runs-table.csv"
        rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
        assert {r["id"] for r in rows} == {FILTERED, UNFILTERED}
        assert md_path.read_text().startswith("| id | kind |") and md_path.read_text().count("\n") == 4
        assert not list((tmp_path / "exports").glob("*.tmp*"))


async def test_empty_ledger_says_how_to_fill_it(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "runs.db"
    app = _app(missing, tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        pane = await _shown(pilot)
        assert _text(pane.query_one("#runs-message", Static)) == EMPTY_HELP
        assert not pane.query_one("#runs-table").display and not missing.exists()  # looking is not recording
        assert not pane.check_action("lineage", ()) and not pane.check_action("export", ())


@pytest.mark.parametrize("kind", ["corrupt", "newer"])
async def test_bad_ledger_is_said_and_the_app_works(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "runs.db"
    if kind == "corrupt":
        path.write_bytes(b"not a database at all\n" * 100)
    else:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE schema_version (version INTEGER)")
        conn.execute("INSERT INTO schema_version VALUES (99)")
        conn.commit()
        conn.close()
    before = path.read_bytes()
    app = _app(path, tmp_path / "exports")
    async with app.run_test(size=SIZE) as pilot:
        pane = await _shown(pilot)
        message = _text(pane.query_one("#runs-message", Static))
        assert ("corrupt" if kind == "corrupt" else "newer than this sft-studio") in message
        assert "rest of the app works" in message and "Traceback" not in message
        assert path.read_bytes() == before
        await pilot.press("1")
        await pilot.pause()
        assert app.query_one("TabbedContent").active == "traces"  # type: ignore[attr-defined]
