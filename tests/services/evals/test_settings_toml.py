"""EvalSettings and the run_eval.py TOML: same keys, same meaning; wrong types and bad seeds refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.evals.settings import DEFAULT_SEEDS, EvalError, build_settings, default_seeds, seeds_from_spec
from services.evals.toml_config import parse_eval_toml, read_eval_toml

# The shape of synth-ai 0.2.10's examples/warming_up_to_rl eval TOMLs (flat keys).
FLAT = """
task_app_url = "http://127.0.0.1:8001"
model = "qwen/qwen3-32b"
inference_url = "https://api.groq.com/openai"
num_episodes = 5
max_turns = 10
concurrency = 2
difficulty = "easy"
policy_name = "crafter"
max_tokens = 256
temperature = 0.1
top_p = 0.95
thinking_mode = "no_think"
thinking_budget = 0
use_tools = true
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "eval.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_do_not_overlap_the_demo_teacher_seeds() -> None:
    settings = build_settings({"policy": "teacher"})
    assert settings.seeds == default_seeds() == list(range(DEFAULT_SEEDS[0], DEFAULT_SEEDS[1] + 1))
    assert not set(settings.seeds) & set(range(120))
    assert settings.max_turns == 50 and settings.concurrency == 8
    assert settings.model_name() == "sft-studio/teacher"


def test_flat_keys_mean_what_run_eval_means(tmp_path: Path) -> None:
    toml = read_eval_toml(_write(tmp_path, FLAT))
    assert toml.warnings == []
    v = toml.values
    assert v["seeds"] == [1, 2, 3, 4, 5]  # num_episodes = seeds 1..N
    assert v["model"] == "qwen/qwen3-32b" and v["inference_url"] == "https://api.groq.com/openai"
    assert v["max_turns"] == 10 and v["concurrency"] == 2 and v["max_tokens"] == 256
    assert v["temperature"] == 0.1 and v["top_p"] == 0.95
    assert v["thinking_mode"] == "no_think" and v["thinking_budget"] == 0
    assert v["task_app_url"] == "http://127.0.0.1:8001"
    assert v["task_policy_name"] == "crafter" and "policy" not in v
    settings = build_settings(v)
    assert settings.mode() == "task-app"


def test_explicit_seeds_beat_num_episodes() -> None:
    assert parse_eval_toml({"num_episodes": 3, "seeds": [7, 8]}).values["seeds"] == [7, 8]
    assert parse_eval_toml({"num_episodes": 3, "seeds": "10-12"}).values["seeds"] == [10, 11, 12]
    assert parse_eval_toml({"num_episodes": 3, "eval": {"seeds": [4]}}).values["seeds"] == [4]


def test_later_tables_and_difficulty_precedence() -> None:
    doc = {
        "difficulty": "hard",
        "rollout": {
            "max_turns": 12,
            "difficulty": "medium",
            "policy_name": "crafter-react",
            "env_config": {"difficulty": "easy", "env_params": {"max_steps_per_episode": 12}},
            "policy_config": {"model": "Qwen/Qwen3-4B", "temperature": 0.3, "max_tokens": 128},
        },
        "eval": {"seeds": [1, 2], "concurrency": 3, "max_llm_calls": 9, "app_id": "grpo-crafter"},
    }
    v = parse_eval_toml(doc).values
    assert v["difficulty"] == "easy"  # rollout.env_config > rollout > top level
    assert v["model"] == "Qwen/Qwen3-4B" and v["temperature"] == 0.3 and v["max_tokens"] == 128
    assert v["seeds"] == [1, 2] and v["concurrency"] == 3
    assert v["max_turns"] == 9  # [eval].max_llm_calls when [eval] has no max_turns


def test_our_policy_names_choose_the_policy() -> None:
    assert parse_eval_toml({"policy_name": "teacher"}).values["policy"] == "teacher"


def test_unknown_keys_are_warned_not_fatal() -> None:
    doc = {"model": "m", "colour": "blue", "rollout": {"shape": 1}, "eval": {"policy_config": {"x": 1}}}
    toml = parse_eval_toml(doc)
    assert toml.warnings == [
        "unknown key colour ignored",
        "unknown key rollout.shape ignored",
        "unknown key eval.policy_config.x ignored",
    ]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"concurrency": "8"}, '`concurrency` must be an integer, not string "8".'),
        ({"max_turns": 1.5}, "`max_turns` must be an integer, not float."),
        ({"temperature": "hot"}, '`temperature` must be a number, not string "hot".'),
        ({"use_tools": "yes"}, '`use_tools` must be true or false, not string "yes".'),
        ({"num_episodes": True}, "`num_episodes` must be an integer, not bool."),
        ({"seeds": [1, "2"]}, "`seeds` must be a list of integers"),
        ({"rollout": {"policy_config": {"max_tokens": "x"}}}, "`rollout.policy_config.max_tokens` must be an integer"),
        ({"eval": {"concurrency": [1]}}, "`eval.concurrency` must be an integer, not list."),
    ],
)
def test_wrong_types_are_clear_errors(doc: dict[str, object], message: str) -> None:
    with pytest.raises(EvalError) as caught:
        parse_eval_toml(doc)
    assert message in str(caught.value)


def test_bad_toml_files(tmp_path: Path) -> None:
    with pytest.raises(EvalError, match="not found"):
        read_eval_toml(tmp_path / "missing.toml")
    with pytest.raises(EvalError, match="is not valid TOML"):
        read_eval_toml(_write(tmp_path, "model = \n"))
    with pytest.raises(EvalError, match=r"eval\.toml: `concurrency` must be an integer"):
        read_eval_toml(_write(tmp_path, 'concurrency = "8"\n'))


def test_placeholder_task_app_url(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = {"task_app_url": "https://YOUR-TASK-APP.modal.run"}
    monkeypatch.delenv("TASK_APP_URL", raising=False)
    with pytest.raises(EvalError, match="placeholder"):
        parse_eval_toml(doc)
    monkeypatch.setenv("TASK_APP_URL", "http://127.0.0.1:8001")
    assert parse_eval_toml(doc).values["task_app_url"] == "http://127.0.0.1:8001"


@pytest.mark.parametrize("spec", ["5-2", "a-b", "", "-3", "1-2-3"])
def test_bad_seed_specs(spec: str) -> None:
    with pytest.raises(EvalError):
        seeds_from_spec(spec)
    with pytest.raises(EvalError):
        parse_eval_toml({"seeds": spec})


def test_seed_spec_messages() -> None:
    with pytest.raises(EvalError, match="The range 5-2 is empty"):
        seeds_from_spec("5-2")
    with pytest.raises(EvalError, match="Seeds must look like START-END"):
        seeds_from_spec("a-b")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"policy": "teacher", "concurrency": 0}, "concurrency: concurrency must be at least 1 (got 0)"),
        ({"policy": "teacher", "max_turns": 0}, "max turns must be at least 1"),
        ({"policy": "teacher", "seeds": []}, "give at least one seed"),
        ({"policy": "teacher", "seeds": [-1]}, "0 or more"),
        ({"policy": "chess"}, "policy: Input should be 'openai', 'teacher' or 'random'"),
        ({"policy": "teacher", "concurrency": "many"}, "concurrency: Input should be a valid integer"),
    ],
)
def test_bad_settings(values: dict[str, object], message: str) -> None:
    with pytest.raises(EvalError) as caught:
        build_settings(values)
    assert message in str(caught.value)


def test_openai_needs_a_model() -> None:
    with pytest.raises(EvalError, match="Name the model"):
        build_settings({}).model_name()


def test_duplicate_seeds_play_once() -> None:
    assert build_settings({"policy": "random", "seeds": [3, 3, 4]}).seeds == [3, 4]
