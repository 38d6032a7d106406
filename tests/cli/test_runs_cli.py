"""`sft-studio runs`: list, show (--json: the whole lineage), compare, reproduce (match / mismatch),
export (csv, md, json), import; and bad input as a clear message with a non-zero exit."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from services.jobs.store import JobRecord
from services.ledger.store import Ledger
from services.rollouts.collector import CollectSpec, collect
from tui.cli import main

MODEL = "fft:sft-studio/tiny-qwen3:job_cli1"


@pytest.fixture(autouse=True)
def ledger_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "team" / "ledger.db"
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(path))
    return path


def _eval(capsys: pytest.CaptureFixture[str], policy: str) -> dict[str, str]:
    assert main(["eval", "--policy", policy, "--seeds", "10000-10002", "--max-turns", "5", "--json"]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


@pytest.fixture
def filled(tmp_path: Path, capsys: pytest.CaptureFixture[str], ledger_file: Path) -> dict[str, str]:
    """A trace DB → `export` (recorded by the export) → a job and its model linked to that dataset
    → `eval` of the teacher and random policies (recorded by the eval)."""
    traces = tmp_path / "traces.db"
    collect(CollectSpec(db=traces, policy="teacher", seeds=(1, 3), max_turns=3, concurrency=2))
    out = tmp_path / "ft" / "train.jsonl"
    assert main(["export", "--db", str(traces), "--output", str(out), "--limit", "6"]) == 0
    capsys.readouterr()
    manifest = json.loads(out.with_name("train.manifest.json").read_text())
    with Ledger(ledger_file) as ledger:
        ledger.record_submission(
            JobRecord(backend="local", base_url="http://127.0.0.1:9", job_id="job_cli1", dataset_path=str(out),
                      dataset_sha256=manifest["sha256"], payload={"model": "sft-studio/tiny-qwen3",
                      "hyperparameters": {"n_epochs": 3, "learning_rate": 0.0001}})
        )  # fmt: skip
        ledger.record_job_end(
            "job_cli1", status="succeeded", fine_tuned_model=MODEL, final_loss=0.25, final_val_loss=0.375
        )
    teacher, rand = _eval(capsys, "teacher"), _eval(capsys, "random")
    return {"traces": str(traces), "out": str(out), "teacher": teacher["eval_id"], "random": rand["eval_id"],
            "teacher_model": teacher["model"], "random_model": rand["model"], "sha": manifest["sha256"]}  # fmt: skip


def test_list_show_export(filled: dict[str, str], capsys: pytest.CaptureFixture[str], ledger_file: Path) -> None:
    assert main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert str(ledger_file) in out and MODEL in out and filled["teacher_model"] in out and "train.jsonl" in out
    assert main(["runs", "list", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows[MODEL]["examples"] == 6 and rows[MODEL]["final_loss"] == 0.25 and rows[MODEL]["evals"] == 0
    assert rows[MODEL]["final_val_loss"] == 0.375 and rows[filled["teacher_model"]]["final_val_loss"] is None
    assert rows[filled["teacher_model"]]["eval_id"] == filled["teacher"]

    assert main(["runs", "show", MODEL, "--json"]) == 0
    lin = json.loads(capsys.readouterr().out)
    assert lin["job"]["job_id"] == "job_cli1" and lin["dataset"]["sha256"] == filled["sha"]
    assert lin["dataset"]["filter"]["limit"] == 6 and lin["dataset"]["db_path"] == str(Path(filled["traces"]).resolve())
    assert lin["dataset"]["db_sha256"] and lin["dataset_check"]["state"] == "matches"
    assert main(["runs", "show", filled["teacher"]]) == 0
    assert "Crafter score" in capsys.readouterr().out

    assert main(["runs", "export"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["id"] for r in table} == {MODEL, filled["teacher_model"], filled["random_model"]}
    assert [r["final_val_loss"] for r in table if r["id"] == MODEL] == ["0.375"]
    assert main(["runs", "export", "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("| id | kind |") and "| final_loss | final_val_loss |" in md and "| 0.25 | 0.375 |" in md
    target = ledger_file.parent / "runs.json"
    assert main(["runs", "export", "--json", "--output", str(target)]) == 0
    assert len(json.loads(target.read_text())) == 3


def test_compare_marks_differences(filled: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "compare", filled["teacher"], filled["random"]]) == 0
    captured = capsys.readouterr()
    assert "≠ eval.policy" in captured.out and "difference" in captured.out and "[" in captured.out
    assert main(["runs", "compare", filled["teacher_model"], filled["random_model"], "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["scores"][0]["paired_seeds"] == 3 and doc["scores"][0]["diff_ci"] is not None
    assert main(["runs", "compare", MODEL, filled["teacher_model"]]) == 0
    assert "one axis at a time" in capsys.readouterr().err


def test_compare_as_csv_and_markdown(filled: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """The same text as the Runs pane's e writes for a comparison (``services.ledger.exports``)."""
    assert main(["runs", "compare", filled["teacher_model"], filled["random_model"], "--format", "csv"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["setting", filled["teacher_model"], filled["random_model"], "differs"]
    policy = next(r for r in rows if r[0] == "eval.policy")
    assert policy[-1] == "yes" and policy[1] != policy[2]
    scores = rows[rows.index(["run", "against", "score", "against score", "difference", "difference 95% CI",
                              "paired seeds", "verdict"]) + 1]  # fmt: skip
    assert scores[:2] == [filled["random_model"], filled["teacher_model"]] and scores[6] == "3"
    assert main(["runs", "compare", filled["teacher"], filled["random"], "--format", "md"]) == 0
    md = capsys.readouterr().out
    assert md.startswith("| setting | ") and "| **eval.policy** ≠ |" in md and "| run | against | score |" in md
    with pytest.raises(SystemExit) as exit_info:  # one output format at a time
        main(["runs", "compare", filled["teacher"], filled["random"], "--format", "md", "--json"])
    assert exit_info.value.code == 2


def test_compare_and_show_link_achievements_to_the_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Per achievement gained or lost, the training examples and sessions that reached it, counted
    from the trace DB (``tests/support/linked_ledger.py``: real exports of a generated DB)."""
    from tests.support.linked_ledger import ALL, BASE, GOOD, build_linked_ledger, expected_counts

    linked = build_linked_ledger(tmp_path)
    ledger = ["--ledger", str(linked.ledger)]
    assert main(["runs", "compare", ALL, GOOD, *ledger]) == 0
    out = capsys.readouterr().out
    good = expected_counts(linked.db, linked.data[GOOD])
    assert f"Achievements gained or lost: {GOOD} vs {ALL} on 4 common seeds" in out
    table = out[out.index("Achievements gained or lost") :]
    row = next(line.split() for line in table.splitlines() if line.strip().startswith("place_table"))
    assert row[:5] == ["place_table", "50%", "0%", "+50", str(good["place_table"][0])]
    assert "collect_drink" in table and "-25" in table and "base examples" in table

    assert main(["runs", "compare", ALL, GOOD, *ledger, "--json"]) == 0
    (pair,) = json.loads(capsys.readouterr().out)["achievement_data"]
    assert pair["data"]["state"] == "counted" and pair["base_data"]["state"] == "counted"
    assert {r["name"]: (r["examples"], r["sessions"]) for r in pair["rows"]} == {
        name: good[name] for name in ("place_table", "collect_sapling", "collect_wood", "collect_drink")
    }

    assert main(["runs", "show", GOOD, *ledger]) == 0
    out = capsys.readouterr().out
    assert f"{GOOD} vs {BASE} (base model) on 4 common seeds" in out and "place_table" in out
    assert "base examples" not in out  # the base model has no training data of its own
    linked.db.write_bytes(linked.db.read_bytes() + b"x")  # no longer the DB exported from
    assert main(["runs", "show", GOOD, *ledger, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)["achievement_data"]
    assert doc["data"]["state"] == "changed" and all(r["examples"] is None for r in doc["rows"])


def test_reproduce_match_then_mismatch(filled: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "reproduce", MODEL]) == 0
    out = capsys.readouterr().out
    assert "match" in out and "byte-identical" in out
    assert f"sft-studio export --db {Path(filled['traces']).resolve()} --limit 6 --output {filled['out']}" in out
    assert f"sft-studio train --type sft --dataset {filled['out']} --backend local" in out
    collect(CollectSpec(db=Path(filled["traces"]), policy="teacher", seeds=(0, 0), max_turns=3, concurrency=1))
    assert main(["runs", "reproduce", MODEL, "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["match"] is False and report["rebuilt_sha256"] != filled["sha"]
    assert any("trace DB changed since the export" in m for m in report["messages"])
    assert "sha256 mismatch" in captured.err


def test_import(tmp_path: Path, capsys: pytest.CaptureFixture[str], filled: dict[str, str], ledger_file: Path) -> None:
    other = tmp_path / "other.db"
    result = Path(filled["out"]).parents[1] / "data" / "evals" / filled["teacher"]
    manifest = filled["out"].replace(".jsonl", ".manifest.json")
    assert main(["runs", "import", str(result), manifest, "--ledger", str(other)]) == 0
    out = capsys.readouterr().out
    assert "eval: eval" in out and "dataset:" in out
    with Ledger(other) as ledger:
        assert ledger.eval(filled["teacher"]) is not None and len(ledger.datasets()) == 1


def test_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], ledger_file: Path) -> None:
    assert main(["runs", "show", "no-such-run"]) == 1
    assert "No run, model or eval 'no-such-run'" in capsys.readouterr().err
    assert main(["runs", "compare", "a"]) == 2
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"not a database at all" * 100)
    assert main(["runs", "list", "--ledger", str(bad)]) == 1
    err = capsys.readouterr().err
    assert str(bad) in err.replace("\n", "") and "corrupt" in err and "Traceback" not in err
    assert main(["runs", "list"]) == 0  # the other ledger (and every other command) unaffected
    capsys.readouterr()
    junk = tmp_path / "junk.json"
    junk.write_text("[]")
    assert main(["runs", "import", str(junk)]) == 1
    assert "neither an export manifest nor an eval result" in capsys.readouterr().err
