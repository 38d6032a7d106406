"""The live count preview: equal to what synth-ai 0.2.10's export_trace_sft.py writes (property tests
over random filters), equal to our own exporter's figures, the same on both key styles, and never
raising on bad input; plus the `sft-studio count` CLI.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.datasets.export import export_sft
from services.datasets.filter_spec import EventRewardFilter, FilterSpec, validate_achievement_names
from services.datasets.preview import Preview, parse_filter, preview
from services.datasets.session_index import SessionIndex
from services.traces.achievement_keys import ACHIEVEMENTS
from services.traces.db import TraceDB
from tests.support.reference_tools import ReferenceUnavailable, reference_script, reference_unavailable
from tui.cli import main

MODELS = ["qwen/qwen3-32b", "gpt-4o-mini", "Qwen/Qwen3-0.6B", "alpha-model", "zeta-model", "nope"]
PROVIDERS = ["groq", "openai", "custom", "vllm", "unknown"]
REWARD_TYPES = ["unique_achievement_delta", "achievement_delta", "sparse", "bogus"]
#: Fields that say which key style a DB uses, and timings: everything else must not depend on the style.
STYLE_FIELDS = {"key_style", "task_app_keys", "notes", "elapsed_ms"}


def build_index(path: Path) -> SessionIndex:
    with TraceDB(path) as db:
        return SessionIndex.build(db)


@pytest.fixture(scope="module")
def ref_index(ref_db: Path) -> SessionIndex:
    return build_index(ref_db)


@pytest.fixture(scope="module")
def app_index(app_db: Path) -> SessionIndex:
    return build_index(app_db)


@st.composite
def specs(draw: st.DrawFn) -> FilterSpec:
    """Filters over the fixture's real values, small enough that many keep something."""
    lo = draw(st.integers(0, 8))
    rlo = draw(st.none() | st.integers(0, 8).map(float))
    return FilterSpec(
        models=draw(st.lists(st.sampled_from(MODELS), max_size=2, unique=True)),
        providers=draw(st.lists(st.sampled_from(PROVIDERS), max_size=2, unique=True)),
        min_unique=lo,
        max_unique=draw(st.none() | st.integers(lo, 12)),
        exclude_achievements=draw(st.lists(st.sampled_from(ACHIEVEMENTS), max_size=3, unique=True)),
        require_achievements=draw(st.lists(st.sampled_from(ACHIEVEMENTS[:10]), max_size=2, unique=True)),
        min_outcome_reward=rlo,
        max_outcome_reward=draw(st.none() | st.integers(int(rlo or 0), 10).map(float)),
        event_rewards=draw(
            st.lists(
                st.builds(EventRewardFilter, reward_type=st.sampled_from(REWARD_TYPES),
                          min_total=st.integers(0, 7).map(float)),
                max_size=2,
            )
        ),
        limit=draw(st.none() | st.integers(1, 300)),
    )  # fmt: skip


def reference_args(spec: FilterSpec) -> list[str]:
    args = ["--min-unique", str(spec.min_unique)]
    for flag, values in (("--model", spec.models), ("--provider", spec.providers),
                         ("--exclude-achievement", spec.exclude_achievements),
                         ("--require-achievement", spec.require_achievements)):  # fmt: skip
        for v in values:
            args += [flag, v]
    for flag, value in (("--max-unique", spec.max_unique), ("--min-outcome-reward", spec.min_outcome_reward),
                        ("--max-outcome-reward", spec.max_outcome_reward), ("--limit", spec.limit)):  # fmt: skip
        if value is not None:
            args += [flag, repr(value)]
    for f in spec.event_rewards:
        args += ["--event-reward", f"{f.reward_type}:{f.min_total!r}"]
    return args


_WROTE = re.compile(r"Wrote (\d+) examples from (\d+) session\(s\)")


def run_reference(script: Path, db: Path, out: Path, spec: FilterSpec) -> tuple[int, int]:
    """(examples, sessions) the reference writes; (0, 0) when it stops with its no-match messages."""
    proc = subprocess.run(
        [sys.executable, str(script), "--db", str(db), "--output", str(out), *reference_args(spec)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    m = _WROTE.search(proc.stderr)
    if m:
        assert proc.returncode == 0
        return int(m.group(1)), int(m.group(2))
    assert proc.returncode == 1, proc.stderr
    assert "No sessions matched the provided filters." in proc.stderr or "No rollout steps matched" in proc.stderr, (
        proc.stderr
    )
    return 0, 0


@pytest.fixture(scope="module")
def script() -> Path:
    try:
        return reference_script("export_trace_sft.py")
    except ReferenceUnavailable as exc:
        reference_unavailable(f"synth-ai 0.2.10's export_trace_sft.py cannot be fetched from PyPI: {exc}")


# ------------------------------------------------------------------------------ against the reference


@pytest.mark.network
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=specs())
def test_preview_counts_what_the_reference_exporter_writes(
    script: Path, ref_db: Path, ref_index: SessionIndex, tmp_path: Path, spec: FilterSpec
) -> None:
    p = preview(ref_index, spec)
    expected = run_reference(script, ref_db, tmp_path / "ref.jsonl", spec)
    assert (p.examples, p.sessions_written) == expected
    assert (p.eligible_sessions == 0) == (p.export_error == "No sessions matched the provided filters.")


@pytest.mark.network
@pytest.mark.parametrize(
    "spec",
    [FilterSpec(), FilterSpec(models=["alpha-model"]), FilterSpec(limit=7), FilterSpec(providers=["unknown"]),
     FilterSpec(require_achievements=["collect_diamond"]), FilterSpec(max_outcome_reward=0.0)],
)  # fmt: skip
def test_reference_edge_cases(
    script: Path, ref_db: Path, ref_index: SessionIndex, tmp_path: Path, spec: FilterSpec
) -> None:
    p = preview(ref_index, spec)
    assert (p.examples, p.sessions_written) == run_reference(script, ref_db, tmp_path / "r.jsonl", spec)


# --------------------------------------------------------------------------------- against our exporter


@pytest.mark.parametrize(
    "spec",
    [FilterSpec(), FilterSpec(models=["qwen/qwen3-32b", "alpha-model"], limit=40), FilterSpec(min_unique=6),
     FilterSpec(require_achievements=["collect_wood"],
                event_rewards=[EventRewardFilter(reward_type="sparse", min_total=4)])],
)  # fmt: skip
def test_preview_equals_our_exports_figures(
    app_db: Path, app_index: SessionIndex, tmp_path: Path, spec: FilterSpec
) -> None:
    p = preview(app_index, spec)
    with TraceDB(app_db) as db:
        result = export_sft(db, spec, tmp_path / "out.jsonl")
    assert (p.examples, p.sessions_written, p.estimated_tokens) == (
        result.examples,
        result.sessions,
        result.token_estimate,
    )
    assert p.examples_by_event_model == result.per_model


# ------------------------------------------------------------------------------------- both key styles


@settings(max_examples=60, deadline=None)
@given(spec=specs())
def test_task_app_keys_give_the_same_preview_as_reference_keys(
    ref_index: SessionIndex, app_index: SessionIndex, spec: FilterSpec
) -> None:
    ref, app = preview(ref_index, spec), preview(app_index, spec)
    assert app.model_dump(exclude=STYLE_FIELDS) == ref.model_dump(exclude=STYLE_FIELDS)
    assert app.task_app_keys and not ref.task_app_keys
    assert any("task app's achievement keys" in n for n in app.notes)


# ------------------------------------------------------------------------------------------ the report


def test_report_parts_add_up(ref_index: SessionIndex) -> None:
    spec = FilterSpec(models=["qwen/qwen3-32b", "gpt-4o-mini"], min_unique=5, min_outcome_reward=3,
                      require_achievements=["collect_wood"],
                      event_rewards=[EventRewardFilter(reward_type="sparse", min_total=3),
                                     EventRewardFilter(reward_type="bogus")])  # fmt: skip
    p = preview(ref_index, spec)
    keys = [s.key for s in p.funnel]
    assert keys == ["candidates", "models", "unique", "outcome_reward", "require_achievements",
                    "event_reward:sparse", "event_reward:bogus"]  # fmt: skip
    assert p.funnel[0].removed == 1 and p.funnel[0].remaining == 45  # the session without LM calls
    for prev, step in zip(p.funnel, p.funnel[1:], strict=False):
        assert prev.remaining - step.removed == step.remaining
    assert p.funnel[-1].remaining == p.eligible_sessions == p.sessions_written > 0
    assert sum(r.sessions for r in p.by_model) == p.eligible_sessions
    assert sum(r.examples for r in p.by_model) == p.examples == sum(p.examples_by_event_model.values())
    assert [a.name for a in p.by_achievement] == list(ACHIEVEMENTS)
    wood = next(a for a in p.by_achievement if a.name == "collect_wood")
    assert wood.sessions == p.eligible_sessions and wood.share == 1.0
    assert sum(p.unique_histogram.values()) == p.eligible_sessions
    assert min(p.unique_histogram) >= 5
    assert p.ok and p.export_error is None and p.estimated_tokens > 0
    assert p.characters >= p.estimated_tokens * 4 - 3 * p.examples


def test_with_a_limit_the_breakdowns_describe_the_header_set(ref_index: SessionIndex) -> None:
    """Issue 10 #15: with --limit the header says "50 examples from 2 sessions" while the model table
    said 101 sessions. The breakdowns count the sessions written; the funnel ends there too, every
    removal a positive count."""
    full = preview(ref_index, FilterSpec())
    p = preview(ref_index, FilterSpec(limit=7))
    assert p.sessions_written < p.eligible_sessions == full.eligible_sessions
    assert [s.key for s in p.funnel][-1] == "limit" and p.funnel[-1].label == "limit 7 examples"
    assert p.funnel[-1].remaining == p.sessions_written
    assert p.funnel[-1].removed == p.eligible_sessions - p.sessions_written
    assert all(s.removed >= 0 for s in p.funnel)
    assert sum(r.sessions for r in p.by_model) == p.sessions_written
    assert sum(r.examples for r in p.by_model) == p.examples == 7
    assert sum(p.unique_histogram.values()) == p.sessions_written
    assert max(a.sessions for a in p.by_achievement) <= p.sessions_written


def test_histogram_counts_after_excluded_names(ref_index: SessionIndex) -> None:
    plain = preview(ref_index, FilterSpec())
    excl = preview(ref_index, FilterSpec(exclude_achievements=["collect_wood"]))
    assert sum(k * n for k, n in plain.unique_histogram.items()) - sum(
        k * n for k, n in excl.unique_histogram.items()
    ) == next(a.sessions for a in plain.by_achievement if a.name == "collect_wood")


def test_export_errors_are_predicted(ref_index: SessionIndex) -> None:
    assert preview(ref_index, FilterSpec(models=["nope"])).export_error == "No sessions matched the provided filters."
    bad = preview(ref_index, FilterSpec(min_unique=5, max_unique=2))
    assert not bad.ok and bad.problems == {"max_unique": "is below min unique (5)"}
    assert bad.export_error == "Invalid filter: max-unique is below min unique (5)."
    assert bad.eligible_sessions == 0


def test_unknown_achievements_get_suggestions(ref_index: SessionIndex) -> None:
    p = preview(ref_index, FilterSpec(require_achievements=["colect_wood"], exclude_achievements=["zzz"]))
    assert p.unknown_achievements == {"colect_wood": "collect_wood", "zzz": ""}
    assert validate_achievement_names(["place_table", "place_tabel", "eat_cow"]) == {"place_tabel": "place_table"}
    assert validate_achievement_names(["custom"], known=[*ACHIEVEMENTS, "custom"]) == {}


def test_preview_is_fast(ref_index: SessionIndex) -> None:
    assert preview(ref_index, FilterSpec(min_unique=3)).elapsed_ms < 50


# ----------------------------------------------------------------------------------------- bad input


def test_parse_filter_reports_fields() -> None:
    spec, problems = parse_filter({"min_unique": 2, "event_rewards": ["sparse:1", ":5", {"reward_type": "x"}]})
    assert problems == {} and spec is not None
    assert [(f.reward_type, f.min_total) for f in spec.event_rewards] == [("sparse", 1.0), ("x", 0.0)]
    spec, problems = parse_filter({"event_rewards": ["x:abc"]})
    assert spec is None and problems == {"event_rewards": "Invalid event reward specification 'x:abc'"}
    spec, problems = parse_filter({"min_unique": "lots", "colour": "red", "limit": 0})
    assert spec is None and set(problems) == {"min_unique", "colour"}
    spec, problems = parse_filter({"limit": 0})
    assert spec is not None and "limit" in problems
    spec, problems = parse_filter({"event_rewards": "sparse:1"})
    assert spec is None and "event_rewards" in problems
    spec, problems = parse_filter({"event_rewards": [{"reward_type": "x", "min_total": "high"}]})
    assert spec is None and "event_rewards" in problems


_text = st.text(max_size=12)
_float = st.floats(allow_nan=True, allow_infinity=True)
_int = st.integers(-(2**70), 2**70)


@settings(max_examples=150, deadline=None)
@given(
    spec=st.builds(
        FilterSpec,
        models=st.lists(_text, max_size=3), providers=st.lists(_text, max_size=3),
        min_unique=_int, max_unique=st.none() | _int,
        exclude_achievements=st.lists(_text | st.sampled_from(ACHIEVEMENTS), max_size=3),
        require_achievements=st.lists(_text | st.sampled_from(ACHIEVEMENTS), max_size=3),
        min_outcome_reward=st.none() | _float, max_outcome_reward=st.none() | _float,
        event_rewards=st.lists(st.builds(EventRewardFilter, reward_type=_text, min_total=_float), max_size=3),
        limit=st.none() | _int,
    )
)  # fmt: skip
def test_preview_never_raises(ref_index: SessionIndex, spec: FilterSpec) -> None:
    p = preview(ref_index, spec)
    assert isinstance(p, Preview)
    assert 0 <= p.sessions_written <= p.eligible_sessions <= p.candidates
    assert 0 <= p.examples <= p.examples_before_limit
    assert p.ok == (not spec.problems())
    assert all(not math.isnan(a.share) for a in p.by_achievement)
    json.loads(p.model_dump_json())


# ------------------------------------------------------------------------------------------------- CLI


def test_count_cli_json(ref_db: Path, ref_index: SessionIndex, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["count", "--db", str(ref_db), "--json", "--model", "qwen/qwen3-32b", "--min-unique", "5",
                 "--event-reward", "sparse:2", "--limit", "30"])  # fmt: skip
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    spec = FilterSpec(models=["qwen/qwen3-32b"], min_unique=5, limit=30,
                      event_rewards=[EventRewardFilter(reward_type="sparse", min_total=2)])  # fmt: skip
    p = preview(ref_index, spec)
    assert (data["eligible_sessions"], data["examples"], data["sessions_written"]) == (
        p.eligible_sessions, p.examples, p.sessions_written,
    )  # fmt: skip
    assert data["funnel"][1]["key"] == "models"


def test_count_cli_text(ref_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "--db", str(ref_db), "--require-achievement", "colect_wood"]) == 0
    captured = capsys.readouterr()
    for part in ("eligible sessions", "Funnel", "By dominant model", "By achievement", "No sessions matched"):
        assert part in captured.out
    # the shared validator's warning, on stderr, as `export` prints it (issue 10 #14)
    assert "Warning: --require-achievement: not a Crafter achievement: 'colect_wood' (did you mean collect_wood?)" in (
        captured.err
    )


def test_count_cli_with_preset_and_override(ref_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text('name = "p"\n[filter]\nmodels = ["gpt-4o-mini"]\nmin_unique = 7\n', encoding="utf-8")
    assert main(["count", "--db", str(ref_db), "--preset", str(preset), "--json"]) == 0
    with_preset = json.loads(capsys.readouterr().out)
    assert main(["count", "--db", str(ref_db), "--preset", str(preset), "--min-unique", "0", "--json"]) == 0
    overridden = json.loads(capsys.readouterr().out)
    assert with_preset["eligible_sessions"] < overridden["eligible_sessions"]
    assert {r["model"] for r in overridden["by_model"]} == {"gpt-4o-mini"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--event-reward", "x:abc"], "Invalid event reward specification 'x:abc'"),
        (["--min-unique", "4", "--max-unique", "1"], "Invalid filter: max-unique is below min unique (4)."),
        (["--limit", "0"], "Invalid filter: limit must be 1 or more"),
        (["--preset", "/nonexistent/p.toml"], "/nonexistent/p.toml: cannot read it"),
    ],
)
def test_count_cli_bad_input(ref_db: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "--db", str(ref_db), *argv]) == 1
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err


def test_count_cli_missing_db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["count", "--db", str(tmp_path / "nope.db")]) == 1
    assert f"Database not found: {tmp_path / 'nope.db'}" in capsys.readouterr().err


def test_filters_an_old_db_cannot_serve_are_problems(tmp_path: Path) -> None:
    from services.traces.schema import Flavour
    from tests.support.tracegen import build_db

    index = build_index(build_db(tmp_path / "v026.db", sessions=5, decisions=2, flavour=Flavour.V0_2_6))
    fine = preview(index, FilterSpec(min_unique=1))
    assert fine.ok and fine.examples > 0
    assert any("reward_metadata" in note for note in fine.notes)
    bad = preview(index, FilterSpec(require_achievements=["collect_wood"]))
    assert not bad.ok and "require_achievements" in bad.problems
    assert bad.export_error is not None and "outcome_rewards.reward_metadata" in bad.export_error
