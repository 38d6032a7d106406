"""Issue 12 acceptance, small: FFT of tiny-qwen3 on teacher chats learns the tool-call format.

The full-size run (300 training episodes, 50 prompts) is bench/bench_trainer.py; this is the same
check on 4 episodes, 3 epochs and 10 prompts, so it fits in about a minute on a busy machine.
Training seeds (1000+) and evaluation seeds (0-49) are disjoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.training import protocol
from services.training.format_check import crafter_prompts, parse_answer, tool_call_rate
from services.training.trainer_main import run_job
from tests.services.training.trainer_support import make_job, tiny_model

TRAIN_SEEDS = range(1000, 1004)
EVAL_SEEDS = range(0, 5)


def test_parse_answer() -> None:
    ok = '<tool_call>{"name": "interact_many", "arguments": {"actions":["move_left","do"]}}</tool_call><|im_end|>'
    assert parse_answer(ok) == ["move_left", "do"]
    assert parse_answer(ok.replace("</tool_call><|im_end|>", "")) == ["move_left", "do"]  # cut at max tokens
    assert parse_answer('<tool_call>{"name": "interact_many", "arguments": {"actions":["fly"]}}</tool_call>') is None
    assert parse_answer('<tool_call>{"name": "other", "arguments": {"actions":["do"]}}</tool_call>') is None
    assert parse_answer("<tool_call></tool_call>") is None
    assert parse_answer("assistant\nassistant") is None


@pytest.mark.slow
def test_fft_learns_the_tool_call_format(tmp_path: Path) -> None:
    import torch

    torch.set_num_threads(1)
    assert not set(TRAIN_SEEDS) & set(range(0, 50))
    job = make_job(
        tmp_path / "fft",
        seeds=TRAIN_SEEDS,
        hyperparameters={"n_epochs": 3, "per_device_batch": 16, "learning_rate": 2e-3},
    )
    lines: list[protocol.TrainerLine] = []
    result = run_job(job, tmp_path / "fft", lines.append)
    assert result.ok
    losses = [line.metric.value for line in lines if line.metric and line.metric.name == "train.loss"]
    assert losses[-1] <= 0.5 * losses[0], losses  # falls by at least 50 % first -> last logged step

    prompts = crafter_prompts(EVAL_SEEDS, per_seed=2)
    trained = tool_call_rate(Path(result.output_dir or ""), prompts)
    assert trained.rate >= 0.9, trained.examples
    untrained = tool_call_rate(tiny_model(), prompts[:3], max_new_tokens=24)
    assert untrained.rate == 0.0
