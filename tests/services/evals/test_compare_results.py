"""Comparison of two evals on common seeds (deltas, paired test, verdict) and the saved results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.evals.compare import compare
from services.evals.episode import EpisodeResult
from services.evals.launcher import run_eval
from services.evals.results import EvalResult, list_results, load_result, result_from_run, save_result, seeds_text
from services.evals.scoring import aggregate
from services.evals.settings import EvalError, build_settings


def _result(eval_id: str, model: str, rows: dict[int, list[str]]) -> EvalResult:
    episodes = [EpisodeResult(seed=s, achievements=a, decisions=5) for s, a in rows.items()]
    return EvalResult(
        eval_id=eval_id, model=model, policy="openai", backend="x", mode="in-process", seeds=list(rows),
        settings={}, started_at="", finished_at="", wall_s=1.0, episodes=episodes, aggregate=aggregate(episodes),
    )  # fmt: skip


WOOD, TABLE, SAPLING = "collect_wood", "place_table", "collect_sapling"


def test_better_with_deltas_on_common_seeds_only() -> None:
    a = _result("a", "tuned", {s: [WOOD, TABLE] if s % 2 else [WOOD, TABLE, SAPLING] for s in range(10)})
    b = _result("b", "base", {s: [] if s % 3 else [WOOD] for s in range(2, 14)})
    c = compare(a, b)
    assert c.seeds == 8 and c.only_a == 2 and c.only_b == 4
    deltas = {d.name: d for d in c.achievements}
    assert deltas[TABLE].a == 1.0 and deltas[TABLE].b == 0.0 and deltas[TABLE].delta == 1.0
    assert deltas[WOOD].b == pytest.approx(3 / 8)  # seeds 3, 6, 9 of 2..9
    assert c.verdict == "better" and c.p_value < 0.05
    assert c.score_diff > 0 and c.score_diff_ci[0] > 0
    assert "tuned is better than base at 8 seeds" in c.summary
    assert compare(b, a).verdict == "worse"


def test_no_detectable_difference() -> None:
    a = _result("a", "m1", {0: [WOOD], 1: [], 2: [WOOD, TABLE], 3: [WOOD]})
    b = _result("b", "m2", {0: [], 1: [WOOD], 2: [WOOD], 3: [WOOD, TABLE]})
    c = compare(a, b)
    assert c.verdict == "no detectable difference" and c.mean_diff == 0.0
    assert c.summary == "m1 vs m2: no detectable difference at 4 seeds (paired t test p = 1)."


def test_no_common_seeds_is_refused() -> None:
    with pytest.raises(EvalError, match="share no seeds"):
        compare(_result("a", "x", {1: []}), _result("b", "y", {2: []}))


def test_saved_result_round_trips_with_a_manifest(tmp_path: Path) -> None:
    run = run_eval(build_settings({"policy": "random", "seeds": [0, 1, 2], "max_turns": 5}), eval_id="r1")
    result = result_from_run(run)
    folder = save_result(result, root=tmp_path)
    assert folder == tmp_path / "evals" / "r1"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"] == "sft-studio/random" and manifest["seeds"] == "0-2"
    assert manifest["backend"] == "local policy (random)" and manifest["code_version"]["package"]
    assert manifest["settings"]["max_turns"] == 5 and "api_key" not in manifest["settings"]
    for ref in ("r1", str(folder), str(folder / "result.json")):
        assert load_result(ref, root=tmp_path) == result
    assert [m["eval_id"] for m in list_results(tmp_path)] == ["r1"]
    assert not list((folder).glob("*.tmp*"))


def test_load_result_errors(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="No eval result 'nope'"):
        load_result("nope", root=tmp_path)
    bad = tmp_path / "x.json"
    bad.write_text('{"episodes": 3}')
    with pytest.raises(EvalError, match="is not an eval result"):
        load_result(str(bad), root=tmp_path)
    bad.write_text("not json")
    with pytest.raises(EvalError, match="is not an eval result"):
        load_result(str(bad), root=tmp_path)


def test_seeds_text() -> None:
    assert seeds_text([10000, 10001, 10002]) == "10000-10002"
    assert seeds_text([4]) == "4"
    assert seeds_text([1, 5]) == "1,5"


def test_saved_settings_hold_no_secret() -> None:
    from services.evals.launcher import EvalRun

    settings = build_settings(
        {
            "model": "m",
            "inference_url": "https://user:sk-secret-123456789@host.example/v1",
            "api_key": "sk-key-abcdef12345",
        }
    )
    run = EvalRun(eval_id="s", settings=settings, episodes=[], wall_s=0.0, started_at="")
    text = result_from_run(run).model_dump_json()
    assert "sk-secret-123456789" not in text and "sk-key-abcdef12345" not in text
