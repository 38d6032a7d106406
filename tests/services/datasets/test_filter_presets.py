"""Filter presets as TOML: round trips, comments that survive updates, atomic writes, clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.common.workspace import filter_presets_dir
from services.datasets.filter_spec import EventRewardFilter, FilterSpec
from services.datasets.presets import (
    PresetError,
    describe_filter,
    list_presets,
    load_preset,
    read_preset,
    save_preset,
)
from services.traces.achievement_keys import ACHIEVEMENTS

FULL = FilterSpec(
    models=["qwen/qwen3-32b", "gpt-4o-mini"],
    providers=["groq"],
    min_unique=3,
    max_unique=9,
    exclude_achievements=["wake_up"],
    require_achievements=["collect_wood", "place_table"],
    min_outcome_reward=2.5,
    max_outcome_reward=10.0,
    event_rewards=[
        EventRewardFilter(reward_type="unique_achievement_delta", min_total=3),
        EventRewardFilter(reward_type="odd:type", min_total=1.25),
        EventRewardFilter(reward_type="sparse", min_total=0.1),
    ],
    limit=500,
)


def test_round_trip_full_and_empty(tmp_path: Path) -> None:
    for spec in (FULL, FilterSpec()):
        path = save_preset(tmp_path / "p.toml", spec, "good runs", "Qwen and GPT runs that got somewhere")
        assert load_preset(path) == spec
        preset = read_preset(path)
        assert (preset.name, preset.description) == ("good runs", "Qwen and GPT runs that got somewhere")


def test_file_layout(tmp_path: Path) -> None:
    text = save_preset(tmp_path / "p.toml", FULL, "good", "").read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# sft-studio filter preset: good"
    assert lines[1] == f"# {describe_filter(FULL)}"
    assert "[filter]" in text
    assert 'event_rewards = ["unique_achievement_delta:3", {reward_type = "odd:type", min_total = 1.25}, ' in text
    assert '"sparse:0.1"' in text
    assert "max_unique = 9" in text
    empty = save_preset(tmp_path / "e.toml", FilterSpec(), "all", "").read_text(encoding="utf-8")
    assert "Keeps every session with LM calls (no filter)." in empty


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    spec=st.builds(
        FilterSpec,
        models=st.lists(st.text(min_size=1, max_size=10), max_size=2),
        min_unique=st.integers(0, 20),
        max_unique=st.none() | st.integers(20, 40),
        require_achievements=st.lists(st.sampled_from(ACHIEVEMENTS), max_size=3),
        min_outcome_reward=st.none() | st.floats(-1e6, 1e6),
        event_rewards=st.lists(
            st.builds(EventRewardFilter, reward_type=st.text(min_size=1, max_size=10).filter(str.strip),
                      min_total=st.floats(-1e9, 1e9)),
            max_size=3,
        ),
        limit=st.none() | st.integers(1, 10**6),
    ),
    name=st.text(max_size=20),
)  # fmt: skip
def test_round_trip_any_spec(tmp_path: Path, spec: FilterSpec, name: str) -> None:
    path = save_preset(tmp_path / "any.toml", spec, name, 'd\n"quoted"')
    assert load_preset(path) == spec
    assert read_preset(path).name == name


def test_update_keeps_comments_and_order(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    save_preset(path, FilterSpec(models=["a"], min_unique=3, limit=10), "p", "first")
    text = path.read_text(encoding="utf-8")
    text = text.replace("[filter]", "# my notes: keep this\n[filter]\n# why a\n")
    text = text.replace("min_unique = 3", "min_unique = 3  # three is plenty")
    path.write_text(text + "\n# trailing remark\n", encoding="utf-8")

    save_preset(path, FilterSpec(models=["a"], min_unique=4, providers=["groq"]), "p2", "second")
    updated = path.read_text(encoding="utf-8")
    for kept in ("# my notes: keep this", "# why a", "# three is plenty", "# trailing remark"):
        assert kept in updated
    assert "limit" not in updated  # back to the default: removed
    assert updated.index("models") < updated.index("min_unique") < updated.index("providers")
    assert updated.startswith("# sft-studio filter preset: p2\n# Keeps sessions whose dominant model is a")
    assert updated.count("# sft-studio filter preset") == 1
    assert read_preset(path).description == "second"
    assert load_preset(path) == FilterSpec(models=["a"], min_unique=4, providers=["groq"])


def test_user_comment_above_header_block_is_not_eaten(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("# hand-written preset\n\n[filter]\nmin_unique = 2\n", encoding="utf-8")
    save_preset(path, FilterSpec(min_unique=3), "h", "")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# sft-studio filter preset: h\n")
    assert "# hand-written preset" in text


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_preset(tmp_path / "p.toml", FULL, "p", "")
    before = path.read_text(encoding="utf-8")

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(PresetError, match="No space left"):
        save_preset(path, FilterSpec(), "p", "")
    assert path.read_text(encoding="utf-8") == before
    assert [p.name for p in tmp_path.iterdir()] == ["p.toml"]  # no temp file left behind


def test_saving_over_a_broken_file_refuses(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("name = [unclosed\n", encoding="utf-8")
    with pytest.raises(PresetError, match="cannot update it"):
        save_preset(path, FilterSpec(), "p", "")
    assert path.read_text(encoding="utf-8") == "name = [unclosed\n"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name = [unclosed\n", "invalid TOML"),
        ("min_unique = 3\n", "unknown key min_unique (filter fields go under [filter])"),
        ('[filter]\nmin_unique = "lots"\n', "min_unique: input should be a valid integer"),
        ("[filter]\ncolour = 1\n", "colour: is not a filter field"),
        ('[filter]\nevent_rewards = ["x:abc"]\n', "event_rewards: Invalid event reward specification 'x:abc'"),
        ('[filter]\nevent_rewards = [{reward_type = "x", min_total = "high"}]\n', "event_rewards:"),
        ("[filter]\nmin_unique = 5\nmax_unique = 2\n", "max_unique: is below min unique (5)"),
        ("[filter]\nlimit = 0\n", "limit: must be 1 or more"),
        ("filter = 3\n", "filter must be a table"),
        ("name = 3\n", "name and description must be strings"),
    ],
)
def test_invalid_files_name_the_file_and_the_reason(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PresetError) as info:
        load_preset(path)
    assert str(info.value).startswith(f"{path}: ")
    assert reason in str(info.value)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PresetError, match="cannot read it"):
        load_preset(tmp_path / "missing.toml")
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PresetError, match="not UTF-8"):
        load_preset(binary)


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "quick.toml"
    path.write_text("[filter]\nmin_unique = 1\n", encoding="utf-8")
    assert read_preset(path).name == "quick"


def test_list_presets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "configs" / "filters"
    save_preset(folder / "b.toml", FilterSpec(min_unique=2), "beta", "second")
    save_preset(folder / "a.toml", FULL, "alpha", "first")
    (folder / "c.toml").write_text("oops = [\n", encoding="utf-8")
    (folder / "notes.txt").write_text("not a preset", encoding="utf-8")
    infos = list_presets(folder)
    assert [(i.name, i.path.name) for i in infos] == [("alpha", "a.toml"), ("beta", "b.toml"), ("c", "c.toml")]
    assert infos[0].description == "first" and infos[0].summary == describe_filter(FULL) and infos[0].error is None
    assert infos[2].error is not None and "invalid TOML" in infos[2].error
    assert list_presets(tmp_path / "none") == []
    monkeypatch.chdir(tmp_path)
    assert filter_presets_dir() == tmp_path.resolve() / "configs" / "filters"  # the workspace found here
    assert [i.name for i in list_presets()] == ["alpha", "beta", "c"]


def test_describe_filter_words() -> None:
    text = describe_filter(FULL)
    for part in ("dominant model is qwen/qwen3-32b or gpt-4o-mini", "dominant provider is groq",
                 "3 to 9 unique achievements (not counting wake_up)", "outcome reward 2.5 to 10",
                 "outcome lists collect_wood and place_table", "unique_achievement_delta rewards totalling ≥ 3",
                 "at most 500 examples"):  # fmt: skip
        assert part in text
    assert describe_filter(FilterSpec(max_unique=4)) == "Keeps sessions with at most 4 unique achievements."
    assert describe_filter(FilterSpec(min_outcome_reward=1)) == "Keeps sessions with outcome reward ≥ 1."
