"""The built-in base model: byte-identical builds, the tokenizer and chat template, the model shape."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.training import tiny_qwen3
from services.training.chat_template import IM_END, TOOL_CALL_END, TOOL_CALL_START
from services.training.crafter_chats import assistant_tool_call
from services.training.tiny_qwen3 import MARKER, ensure_tiny_qwen3, is_built, tiny_qwen3_dir
from tests.services.training.trainer_support import chats, tiny_model


def _hashes(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_two_builds_are_byte_identical_and_atomic(tmp_path: Path) -> None:
    started = time.perf_counter()
    built = ensure_tiny_qwen3(tmp_path)
    elapsed = time.perf_counter() - started
    assert built == tiny_qwen3_dir(tmp_path) == tmp_path / "models" / "sft-studio--tiny-qwen3"
    assert is_built(built)
    assert _hashes(built) == _hashes(tiny_model())
    names = set(_hashes(built))
    assert {"config.json", "model.safetensors", "tokenizer.json", "chat_template.jinja", MARKER} <= names
    # only the finished folder and the lock file: no temp folder left behind
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [".sft-studio--tiny-qwen3.lock", built.name]
    assert elapsed < 120  # seconds on a quiet machine; generous for a loaded one


def test_existing_build_is_reused_and_an_old_recipe_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tiny_qwen3_dir(tmp_path)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text(json.dumps({"recipe_version": tiny_qwen3.RECIPE_VERSION}), encoding="utf-8")
    calls: list[Path] = []
    monkeypatch.setattr(tiny_qwen3, "build_tiny_qwen3", lambda f: calls.append(f))
    assert ensure_tiny_qwen3(tmp_path) == folder
    assert calls == []  # a complete build is never rebuilt

    (folder / MARKER).write_text(json.dumps({"recipe_version": 0}), encoding="utf-8")

    def fake_build(target: Path) -> None:
        target.mkdir()
        (target / MARKER).write_text(json.dumps({"recipe_version": tiny_qwen3.RECIPE_VERSION}), encoding="utf-8")
        calls.append(target)

    monkeypatch.setattr(tiny_qwen3, "build_tiny_qwen3", fake_build)
    assert ensure_tiny_qwen3(tmp_path) == folder
    assert len(calls) == 1 and is_built(folder)


def test_failed_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(target: Path) -> None:
        target.mkdir()
        (target / "config.json").write_text("{}", encoding="utf-8")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tiny_qwen3, "build_tiny_qwen3", failing)
    with pytest.raises(tiny_qwen3.TinyModelError, match="No space left"):
        ensure_tiny_qwen3(tmp_path)
    assert [p.name for p in (tmp_path / "models").iterdir()] == [".sft-studio--tiny-qwen3.lock"]


def test_tokenizer_and_chat_template() -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model(), local_files_only=True)
    assert len(tok) == tiny_qwen3.VOCAB_SIZE
    assert tok.eos_token == IM_END and tok.pad_token == "<|pad|>"
    row = chats(1000)[3]
    text = tok.apply_chat_template(row["messages"], tokenize=False)
    arguments = row["messages"][2]["tool_calls"][0]["function"]["arguments"]
    call = f'{{"name": "interact_many", "arguments": {arguments}}}'
    answer = f"<|im_start|>assistant\n<tool_call>{call}</tool_call><|im_end|>\n"
    assert text.endswith(answer)  # the exporter's JSON string, verbatim
    assert text.startswith("<|im_start|>system\nYou are playing Crafter")

    enc = tok.apply_chat_template(row["messages"], return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = enc["input_ids"], enc["assistant_masks"]
    assert len(ids) < 150  # line-level BPE: a whole Crafter example in ~80 tokens
    marked = tok.decode([i for i, m in zip(ids, mask, strict=True) if m])
    assert marked == answer[len("<|im_start|>assistant\n") : -1]  # the call and the stop token, nothing else
    for special in (TOOL_CALL_START, TOOL_CALL_END, IM_END):
        assert len(tok.encode(special, add_special_tokens=False)) == 1
    # decoding keeps the tool-call markers even when skipping special tokens (as Qwen3 does)
    assert TOOL_CALL_START in tok.decode(ids, skip_special_tokens=True)
    # one token per action after the fixed prefix
    call_ids = tok.encode('{"name": "interact_many", "arguments": {"actions":["move_left","do","do"]}}')
    assert len(call_ids) <= 8

    # arguments given as an object are written as JSON
    messages = [{"role": "user", "content": "hi"}, assistant_tool_call(["noop"], "c")]
    messages[1]["tool_calls"][0]["function"]["arguments"] = {"actions": ["noop"]}
    assert '"arguments": {"actions": ["noop"]}}</tool_call>' in tok.apply_chat_template(messages, tokenize=False)
    prompt = tok.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_model_shape() -> None:
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model(), local_files_only=True)
    cfg = model.config
    assert (cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers) == (128, 384, 2)
    assert (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.head_dim) == (4, 2, 32)
    assert cfg.tie_word_embeddings and cfg.model_type == "qwen3"
    assert 0.7e6 < sum(p.numel() for p in model.parameters()) < 1.1e6
    assert model.generation_config.eos_token_id == cfg.eos_token_id == 2


def test_module_imports_no_torch() -> None:
    """The server imports the folder name without loading torch or transformers."""
    code = (
        "import sys, services.training.tiny_qwen3, services.training.train_settings;"
        "print(sorted(m for m in ('torch', 'transformers', 'tokenizers', 'trl') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
