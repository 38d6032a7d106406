"""The link from an eval back to the data (``services.ledger.achievement_data``) on real exports of
a small generated trace DB: the counts per achievement match the exported JSONL's own sessions;
gains and losses against the first run and against the base model; a trace DB that is missing,
changed or no longer gives the manifest's counts is said, and nothing is counted."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from services.ledger.achievement_data import base_model_link, compare_links, run_data
from services.ledger.lineage import lineage
from services.ledger.records import Lineage
from services.ledger.store import Ledger
from services.ledger.tables import DatasetRow
from tests.support.linked_ledger import ALL, BASE, GOOD, Linked, build_linked_ledger, expected_counts


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Linked:
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("linked")
        mp.setenv("SFT_STUDIO_DATA_DIR", str(root / "data"))
        mp.setenv("SFT_STUDIO_LEDGER", "off")
        return build_linked_ledger(root)


@pytest.fixture(autouse=True)
def _data_dir(linked: Linked, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(linked.ledger.parent / "data"))


def _lineages(linked: Linked, *ids: str) -> list[Lineage]:
    with Ledger(linked.ledger) as ledger:
        return [lineage(ledger, i, verify=False) for i in ids]


def test_counts_match_the_exported_files_sessions(linked: Linked) -> None:
    for model in (GOOD, ALL):
        (lin,) = _lineages(linked, model)
        data = run_data(lin)
        assert data.state == "counted", data.message
        lines = linked.data[model].read_text().splitlines()
        assert data.examples == len(lines) == lin.dataset.examples
        assert data.sessions == len({json.loads(line)["metadata"]["session_id"] for line in lines})
        expected = expected_counts(linked.db, linked.data[model])
        got = {name: (r.examples, r.sessions) for name, r in data.reached.items() if r.sessions}
        assert got == expected and expected  # some achievement was reached
    good, every = (run_data(lin) for lin in _lineages(linked, GOOD, ALL))
    assert good.sessions is not None and every.sessions is not None and good.sessions < every.sessions


def test_gains_and_losses_against_the_first_run(linked: Linked) -> None:
    lineages = _lineages(linked, ALL, GOOD)
    (pair,) = compare_links(lineages)
    assert (pair.run_id, pair.base_id, pair.base_kind, pair.seeds) == (GOOD, ALL, "run", 4)
    deltas = {r.name: round(r.delta, 2) for r in pair.rows}
    # GOOD vs ALL on the four seeds: wood 3/4 vs 2/4, table 2/4 vs 0, sapling 1/4 vs 0, drink 0 vs 1/4
    assert deltas == {"place_table": 0.5, "collect_sapling": 0.25, "collect_wood": 0.25, "collect_drink": -0.25}
    assert [r.name for r in pair.gained] == ["place_table", "collect_sapling", "collect_wood"]
    assert [r.name for r in pair.lost] == ["collect_drink"]
    good, every = pair.data, pair.base_data
    assert every is not None and good.counted and every.counted
    for row in pair.rows:
        assert (row.examples, row.sessions) == (good.reached[row.name].examples, good.reached[row.name].sessions)
        assert (row.base_examples, row.base_sessions) == (
            every.reached[row.name].examples,
            every.reached[row.name].sessions,
        )


def test_against_the_base_model(linked: Linked) -> None:
    with Ledger(linked.ledger) as ledger:
        lin = lineage(ledger, GOOD, verify=False)
        pair = base_model_link(ledger, lin)
        assert base_model_link(ledger, lineage(ledger, BASE, verify=False)) is None  # not fine-tuned
    assert pair is not None and (pair.base_id, pair.base_kind, pair.base_data) == (BASE, "base model", None)
    # GOOD vs BASE: table 2/4 vs 0, sapling 1/4 vs 0, drink 0 vs 1/4; wood 3/4 on both (unchanged, left out)
    assert {r.name: round(r.delta, 2) for r in pair.rows} == {
        "place_table": 0.5,
        "collect_sapling": 0.25,
        "collect_drink": -0.25,
    }
    assert all(r.examples is not None and r.base_examples is None for r in pair.rows)


def test_a_base_model_never_evaluated_is_said(linked: Linked, tmp_path: Path) -> None:
    from services.ledger.tables import EvalRow

    copy = tmp_path / "runs.db"
    copy.write_bytes(linked.ledger.read_bytes())
    with Ledger(copy) as ledger:
        with ledger._write() as s:
            s.query(EvalRow).filter(EvalRow.model_id == BASE).delete()
        pair = base_model_link(ledger, lineage(ledger, GOOD, verify=False))
    assert pair is not None and not pair.rows and pair.note and "no eval of the base model" in pair.note


def _with_db(linked: Linked, tmp_path: Path, model: str, db_path: str) -> list[Lineage]:
    """The model's lineage with its dataset pointing at ``db_path`` (a copy of the ledger)."""
    copy = tmp_path / "runs.db"
    copy.write_bytes(linked.ledger.read_bytes())
    with Ledger(copy) as ledger:
        lin = lineage(ledger, model, verify=False)
        with ledger._write() as s:
            row = s.get(DatasetRow, lin.dataset.id)
            row.db_path = db_path
        return [lineage(ledger, model, verify=False)]


def test_a_missing_trace_db_counts_nothing(linked: Linked, tmp_path: Path) -> None:
    (lin,) = _with_db(linked, tmp_path, GOOD, str(tmp_path / "gone.db"))
    data = run_data(lin)
    assert data.state == "missing" and not data.reached and "not on disk" in data.message
    (pair,) = compare_links([*_lineages(linked, ALL), lin])
    assert pair.rows and all(r.examples is None and r.sessions is None for r in pair.rows)


def test_a_changed_trace_db_is_not_trusted(linked: Linked, tmp_path: Path) -> None:
    changed = tmp_path / "traces.db"
    changed.write_bytes(linked.db.read_bytes())
    conn = sqlite3.connect(changed)  # one header field rewritten: the file's sha256 is not the export's
    conn.execute("PRAGMA user_version = 5")
    conn.close()
    (lin,) = _with_db(linked, tmp_path, GOOD, str(changed))
    data = run_data(lin)
    assert data.state == "changed" and not data.reached and data.examples is None
    assert "changed since the export" in data.message


def test_a_db_that_gives_other_counts_is_not_trusted(linked: Linked, tmp_path: Path) -> None:
    """Same sha256 recorded as the file now has, but the manifest's counts are not what the filter
    selects: the data trained on is not this selection."""
    copy = tmp_path / "runs.db"
    copy.write_bytes(linked.ledger.read_bytes())
    with Ledger(copy) as ledger:
        lin = lineage(ledger, GOOD, verify=False)
        with ledger._write() as s:
            s.get(DatasetRow, lin.dataset.id).examples = 1
        lin = lineage(ledger, GOOD, verify=False)
    data = run_data(lin)
    assert data.state == "mismatch" and not data.reached and "manifest says 1" in data.message


def test_a_training_prefix_counts_only_what_was_trained_on(linked: Linked) -> None:
    (lin,) = _lineages(linked, ALL)
    assert lin.facts is not None and lin.dataset is not None
    lin.facts.examples = 7  # ``train --examples 7``: the first 7 lines of the file
    data = run_data(lin)
    first = linked.data[ALL].read_text().splitlines()[:7]
    assert data.state == "counted" and data.examples == 7 and "first 7 examples" in data.message
    assert data.sessions == len({json.loads(line)["metadata"]["session_id"] for line in first})
    assert max(r.examples for r in data.reached.values()) <= 7


def test_an_unknown_filter_field_is_not_guessed(linked: Linked) -> None:
    (lin,) = _lineages(linked, GOOD)
    lin.dataset.filter = {**lin.dataset.filter, "policies": ["teacher"]}
    data = run_data(lin)
    assert data.state == "unreadable" and "policies" in data.message
