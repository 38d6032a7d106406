"""Plan expansion (cartesian product, config edits, subsets, estimates) and refusals before anything runs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from services.sweeps.plan import PlanError, load_plan, refusal
from services.sweeps.state import sweep_status
from tests.services.sweeps.support import plan_text, workspace, write_plan


@pytest.fixture
def ws(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SFT_STUDIO_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("SFT_STUDIO_LEDGER", str(tmp_path / "ledger.db"))
    workspace(tmp_path)
    return tmp_path


def test_axes_expand_to_the_cartesian_product_with_edited_configs(ws: Path) -> None:
    plan = load_plan(
        write_plan(ws, plan_text("lora_rank = [4, 8]\nlearning_rate = [1e-5, 2e-5]\nexamples = [2, 4]")),
        backend="local",
    )
    assert len(plan.cells) == 8
    assert refusal(plan) is None
    first = plan.cells[0]
    assert first.values == {"lora_rank": "4", "learning_rate": "1e-05", "examples": "2"}
    doc = tomllib.loads(first.config_text)
    assert doc["training"]["lora"]["r"] == 4 and doc["hyperparameters"]["learning_rate"] == 1e-5
    assert doc["tags"]["sweep"] == "demo" and doc["tags"]["lora_rank"] == "4"
    assert first.config_path == ws / "configs" / "sweeps" / "demo" / f"{first.name}.toml"
    assert first.dataset_path == ws / "ft_data" / "sweeps" / "demo" / "data.n2.jsonl"
    assert doc["job"]["data"] == str(first.dataset_path)
    assert len({c.settings_hash for c in plan.cells}) == 8
    # estimates: examples capped by the subset, tokens scaled, steps from batch 2 x accumulation 1
    assert first.estimate is not None and first.estimate.examples == 2 and first.estimate.steps == 1
    assert first.estimate.seconds is None and first.estimate.throughput.startswith("unknown")
    whole = load_plan(write_plan(ws, plan_text("lora_rank = [4]"), "p2.toml"), backend="local").cells[0]
    assert whole.estimate is not None and whole.estimate.examples > 4 and whole.estimate.tokens > first.estimate.tokens
    # nothing was written by planning
    assert not (ws / "configs" / "sweeps").exists() and not (ws / "ft_data" / "sweeps").exists()


def test_hold_global_batch_recomputes_accumulation(ws: Path) -> None:
    plan = load_plan(
        write_plan(ws, plan_text("per_device_batch = [1, 2]", extra="hold_global_batch = true")), backend="local"
    )
    assert refusal(plan) is None
    assert [c.global_batch for c in plan.cells] == [2, 2]
    accum = [tomllib.loads(c.config_text)["hyperparameters"]["gradient_accumulation_steps"] for c in plan.cells]
    assert accum == [2, 1]
    bad = load_plan(
        write_plan(ws, plan_text("per_device_batch = [3]", extra="hold_global_batch = true"), "p2.toml"),
        backend="local",
    )
    assert "cannot be held" in (refusal(bad) or "")


def test_data_quality_axis_makes_one_export_per_filter(ws: Path) -> None:
    plan = load_plan(write_plan(ws, plan_text("min_unique = [0, 1]\nexamples = [2, 3]")), backend="local")
    assert refusal(plan) is None, refusal(plan)
    assert {c.export_path.name for c in plan.cells} == {"min_unique-0.jsonl", "min_unique-1.jsonl"}
    assert [c.filter.min_unique for c in plan.cells] == [0, 0, 1, 1]


@pytest.mark.parametrize(
    ("axes", "words"),
    [
        ("warmup = [1, 2]", "unknown axis warmup"),
        ("lora_rank = []", "non-empty list"),
        ("lora_rank = [4, 4]", "repeats a value"),
        ("lora_rank = ['x']", "whole numbers"),
        ("train_kind = ['lora', 'dpo']", "method values"),
        ("min_unique = ['lots']", "takes numbers"),
        ("require_achievement = ['a b', 'a_b']", "share the file name"),
    ],
)
def test_bad_axes_are_refused(ws: Path, axes: str, words: str) -> None:
    with pytest.raises(PlanError, match=words):
        load_plan(write_plan(ws, plan_text(axes)), backend="local")


@pytest.mark.parametrize(
    ("axes", "words"),
    [
        ("train_kind = ['lora', 'fft']\nlora_rank = [4, 8]", "LoRA rank on a full-finetune cell"),
        ("min_unique = [0, 99]", "selects nothing"),
        ("examples = [2, 100000]", "selects only"),
        ("require_achievement = ['collect_wod']", "did you mean 'collect_wood'"),
    ],
)
def test_impossible_cells_refuse_the_plan(ws: Path, axes: str, words: str) -> None:
    plan = load_plan(write_plan(ws, plan_text(axes)), backend="local")
    assert words in (refusal(plan) or "")


def test_plan_file_problems_are_sentences(ws: Path) -> None:
    with pytest.raises(PlanError, match="does not exist"):
        load_plan(ws / "missing.toml")
    with pytest.raises(PlanError, match="not valid TOML"):
        load_plan(write_plan(ws, "[sweep\n"))
    with pytest.raises(PlanError, match="unknown section"):
        load_plan(write_plan(ws, plan_text("lora_rank = [4]") + "\n[jobs]\nx = 1\n"))
    with pytest.raises(PlanError, match="policy must be one of"):
        load_plan(write_plan(ws, plan_text("lora_rank = [4]", eval_='policy = "gpt"')))
    with pytest.raises(PlanError, match="trace DB"):
        load_plan(write_plan(ws, plan_text("lora_rank = [4]").replace("traces.db", "nope.db")))
    with pytest.raises(PlanError, match="file-name safe"):
        load_plan(write_plan(ws, plan_text("lora_rank = [4]", name="a/b")))


def test_status_of_a_plan_that_never_ran(ws: Path) -> None:
    cells = sweep_status(write_plan(ws, plan_text("lora_rank = [4, 8]")))
    assert [c.state for c in cells] == ["pending", "pending"]
    assert [c.values["lora_rank"] for c in cells] == ["4", "8"]
