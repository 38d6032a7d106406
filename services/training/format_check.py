"""Does a model answer the Crafter prompt with a usable ``interact_many`` call? (issue 12 acceptance)

The check generates greedily with transformers directly (the served path is the inference worker's
job) on the prompts of Crafter episodes: the teacher plays seeds the training data never saw (the
eval seeds 0-49 by default), and at each of the first decisions the model under test is asked the
same system prompt and user message. An answer counts when it holds a ``<tool_call>`` whose JSON
names ``interact_many`` and whose actions the project's parser accepts (at least one valid action,
none dropped). The bench (bench/bench_trainer.py) and a slow test call :func:`tool_call_rate`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from services.crafter.prompt import TOOL_NAME, actions_from_tool_calls
from services.training.chat_template import IM_END, TOOL_CALL_END, TOOL_CALL_START
from services.training.crafter_chats import crafter_chats

_CALL = re.compile(
    re.escape(TOOL_CALL_START) + r"(.*?)(?:" + re.escape(TOOL_CALL_END) + "|" + re.escape(IM_END) + "|$)", re.S
)


class FormatReport(BaseModel):
    prompts: int
    parseable: int
    examples: list[str]  # the first few answers, for a report

    @property
    def rate(self) -> float:
        return self.parseable / self.prompts if self.prompts else 0.0


def parse_answer(text: str) -> list[str] | None:
    """The actions of a generated answer's first tool call, or None when it is not a usable
    ``interact_many`` call."""
    match = _CALL.search(text)
    if match is None:
        return None
    try:
        call = json.loads(match.group(1).strip())
    except ValueError:
        return None
    if not isinstance(call, dict) or call.get("name") != TOOL_NAME:
        return None
    actions, problem = actions_from_tool_calls([{"function": call}])
    return actions if actions and problem is None else None


def crafter_prompts(seeds: Iterable[int], per_seed: int, max_turns: int = 50) -> list[list[dict[str, Any]]]:
    """``[system, user]`` message pairs: the first ``per_seed`` decisions of a teacher episode per seed."""
    prompts: list[list[dict[str, Any]]] = []
    for seed in seeds:
        for index, row in enumerate(crafter_chats([seed], "teacher", max_turns)):
            if index >= per_seed:
                break
            prompts.append(row["messages"][:2])
    return prompts


def tool_call_rate(model_dir: Path, prompts: list[list[dict[str, Any]]], max_new_tokens: int = 40) -> FormatReport:
    """Greedy answers of the model in ``model_dir`` (full weights or a LoRA adapter) to ``prompts``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer: Any = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if (model_dir / "adapter_config.json").is_file():
        from peft import AutoPeftModelForCausalLM

        model: Any = AutoPeftModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True)
    else:
        model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    parseable = 0
    examples: list[str] = []
    with torch.no_grad():
        for messages in prompts:
            inputs = tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_dict=True, return_tensors="pt"
            )
            out = model.generate(**inputs, do_sample=False, max_new_tokens=max_new_tokens)
            text = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=False)
            if parse_answer(text) is not None:
                parseable += 1
            if len(examples) < 5:
                examples.append(text[:200])
    return FormatReport(prompts=len(prompts), parseable=parseable, examples=examples)
