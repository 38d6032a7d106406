"""Base models the Synth backend trains with SFT (synth-ai 0.2.23's catalogue, as data).

The CLI looks the model up case-insensitively, sends the canonical spelling, refuses fine-tuned ids
(``ft:``/``peft:``…) for SFT and gates "experimental" models behind ``SDK_EXPERIMENTAL=1``. We need
the same list to accept and refuse the same configs before anything is uploaded.
"""

from __future__ import annotations

import os

from services.common.echo import cap_echo

_QWEN3 = (
    "Qwen/Qwen3-0.6B",
    "Qwen/Qwen3-1.7B",
    "Qwen/Qwen3-4B",
    "Qwen/Qwen3-8B",
    "Qwen/Qwen3-14B",
    "Qwen/Qwen3-30B-A3B",
    "Qwen/Qwen3-32B",
    "Qwen/Qwen3-4B-2507",
    "Qwen/Qwen3-4B-Instruct-2507",
    "Qwen/Qwen3-4B-Instruct-2507-FP8",
    "Qwen/Qwen3-30B-A3B-Instruct-2507",
    "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8",
    "Qwen/Qwen3-235B-A22B-Instruct-2507",
    "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8",
    "Qwen/Qwen3-4B-Thinking-2507",
    "Qwen/Qwen3-4B-Thinking-2507-FP8",
    "Qwen/Qwen3-30B-A3B-Thinking-2507",
    "Qwen/Qwen3-30B-A3B-Thinking-2507-FP8",
    "Qwen/Qwen3-235B-A22B-Thinking-2507",
    "Qwen/Qwen3-235B-A22B-Thinking-2507-FP8",
)
_QWEN3_CODER = (
    "Qwen/Qwen3-Coder-30B-A3B-Instruct",
    "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8",
    "Qwen/Qwen3-Coder-480B-A35B-Instruct",
    "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8",
)
_QWEN3_VL = tuple(
    f"Qwen/Qwen3-VL-{size}-{kind}"
    for size in ("2B", "4B", "8B", "30B-A3B", "32B", "235B-A22B")
    for kind in ("Instruct", "Thinking")
)

SFT_MODELS: tuple[str, ...] = (*_QWEN3, *_QWEN3_CODER, *_QWEN3_VL)

_EXPERIMENTAL_DEFAULT = frozenset(
    {
        "Qwen/Qwen3-235B-A22B-Instruct-2507",
        "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8",
        "Qwen/Qwen3-235B-A22B-Thinking-2507",
        "Qwen/Qwen3-235B-A22B-Thinking-2507-FP8",
        "Qwen/Qwen3-Coder-480B-A35B-Instruct",
        "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8",
        "Qwen/Qwen3-30B-A3B-Thinking-2507",
        "Qwen/Qwen3-30B-A3B-Thinking-2507-FP8",
        "Qwen/Qwen3-4B-Thinking-2507",
        "Qwen/Qwen3-4B-Thinking-2507-FP8",
    }
)
_CANONICAL = {name.lower(): name for name in SFT_MODELS}


class ModelRefused(ValueError):
    """The CLI would refuse this model id (message in its words)."""


def experimental_models() -> frozenset[str]:
    extra = os.environ.get("SDK_EXPERIMENTAL_MODELS", "")
    return _EXPERIMENTAL_DEFAULT | {part.strip() for part in extra.split(",") if part.strip()}


def experimental_allowed() -> bool:
    return os.environ.get("SDK_EXPERIMENTAL", "0") == "1"


def canonical_sft_model(model_id: str, *, allow_experimental: bool | None = None) -> str:
    """The canonical base model name, or ``ModelRefused`` with the CLI's message."""
    cleaned = model_id.strip()
    if not cleaned:
        raise ModelRefused("Model identifier is empty")
    base = _CANONICAL.get(cleaned.lower())
    if base is None:
        raise ModelRefused(
            f"Model '{cap_echo(cleaned)}' is not supported. Call supported_model_ids() for available base models."
        )
    allowed = experimental_allowed() if allow_experimental is None else allow_experimental
    if base in experimental_models() and not allowed:
        raise ModelRefused(
            f"Model '{base}' is experimental and disabled. Set SDK_EXPERIMENTAL=1 or pass allow_experimental=True."
        )
    return base
