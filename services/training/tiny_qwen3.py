"""The built-in base model ``sft-studio/tiny-qwen3``: a ~0.9 M parameter Qwen3 built locally, for a
machine, CI or demo with no model hub.

Why each part is what it is (measured facts in shared/reference/local_training.md):

- **Tokenizer**: a byte-level BPE trained with ``tokenizers`` on Crafter chats our own policies play
  in-process (services/training/crafter_chats.py: the scripted teacher and the random policy on fixed
  seeds, a few hundred decisions), rendered by the model's chat template. The pre-tokenizer splits
  on newlines (line level): with the usual GPT-2 regex the vocabulary saturates near 1,000 tokens on
  this narrow corpus and an example takes ~650 tokens; line-level it takes ~75. The price: the
  tokenizer fits this prompt format. One more split: a JSON string ends a piece (``{"name"``,
  ``: "interact_many"``, ``:["move_left"``, ``,"do"``, ``]}}``). Without it the small corpus merges
  whole answers into single tokens, one per action sequence, each seen a handful of times; with it a
  tool call is a fixed prefix plus one token per action, which a small model learns in a few dozen
  steps (measured: 100 % parseable calls after 30 steps, against 70 % for whole-answer tokens).
  ``<|pad|>``, ``<|im_start|>``, ``<|im_end|>`` (eos) are special;
  ``<tool_call>``/``</tool_call>`` are whole tokens that decoding keeps (as in Qwen3), so a served
  answer still shows the call.
- **Model**: ``Qwen3Config`` hidden 128, intermediate 384, 2 layers, 4 heads, 2 KV heads, head_dim 32,
  tied embeddings, initialised from a fixed seed. It knows nothing until fine-tuned; FFT on teacher
  chats teaches it the format and some policy, LoRA on it learns the format only (frozen random
  embeddings and head).
- **Build**: once per data dir, in a temp folder renamed into place (a reader sees the whole model
  or none), under a lock so two processes do not build it twice. The same code gives the same bytes
  on every build (tests/services/training/test_tiny_qwen3.py hashes two builds). Never touches the
  hub: nothing is downloaded, everything is built from our own code.

This module imports torch, transformers and tokenizers only inside the functions that build, so the
server can import the folder name without them.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from services.common.atomic import fsync_folder
from services.training.chat_template import CHAT_TEMPLATE, IM_END, IM_START, PAD, TOOL_CALL_END, TOOL_CALL_START
from services.training.protocol import TINY_QWEN3

#: The folder under ``data_dir/models/`` (the model id with ``/`` as ``--``, as the HF cache names it).
FOLDER_NAME = TINY_QWEN3.replace("/", "--")
#: Written last, inside the temp folder: what was built and how (a folder without it is not ours).
MARKER = "sft_studio_model.json"
#: Bump when the recipe (corpus, tokenizer, config) changes: an older build is then rebuilt.
RECIPE_VERSION = 1

VOCAB_SIZE = 4096
MIN_MERGE_FREQUENCY = 1
INIT_SEED = 1234
#: Corpus: one episode per seed, 50 decisions each; far from the eval seeds (0-49) and the demo's.
TEACHER_SEEDS = tuple(range(10_000, 10_005))
RANDOM_SEEDS = (10_100,)
CORPUS_MAX_TURNS = 50
MAX_POSITIONS = 1024
#: A JSON string inside a line: its own piece, so a tool call is ``{``, ``"name"``, ..., ``"move_left"``, ...
JSON_STRING = r'"[^"\n]*"'

MODEL_CONFIG: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 384,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 32,
    "max_position_embeddings": MAX_POSITIONS,
    "tie_word_embeddings": True,
}


class TinyModelError(Exception):
    """The built-in model could not be built or written (the message says why, e.g. disk full)."""


def tiny_qwen3_dir(data_dir: Path) -> Path:
    """Where the built-in model lives in ``data_dir`` (built or not)."""
    return data_dir / "models" / FOLDER_NAME


def is_built(folder: Path) -> bool:
    """True when ``folder`` holds a complete build of the current recipe."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("recipe_version") == RECIPE_VERSION


def ensure_tiny_qwen3(data_dir: Path) -> Path:
    """The built-in model's folder in ``data_dir``, built first when missing (a few seconds).

    Safe to call from several processes: the build runs under a lock file and lands by one rename.
    Raises :class:`TinyModelError` when it cannot be built or written.
    """
    dest = tiny_qwen3_dir(data_dir)
    if is_built(dest):
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest.parent / f".{FOLDER_NAME}.lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            if is_built(dest):  # another process built it while we waited
                return dest
            tmp = dest.parent / f".{FOLDER_NAME}.{secrets.token_hex(4)}.tmp"
            try:
                build_tiny_qwen3(tmp)
                _fsync_tree(tmp)
                if dest.exists():  # an older recipe's build: replace it
                    old = dest.parent / f".{FOLDER_NAME}.{secrets.token_hex(4)}.old"
                    os.replace(dest, old)
                    shutil.rmtree(old, ignore_errors=True)
                os.replace(tmp, dest)
                fsync_folder(dest.parent)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
    except OSError as exc:
        raise TinyModelError(f"cannot write {TINY_QWEN3} into {dest.parent}: {exc.strerror or exc}") from None
    return dest


def _fsync_tree(folder: Path) -> None:
    for path in sorted(folder.iterdir()):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    fsync_folder(folder)


def corpus_texts() -> list[str]:
    """The tokenizer's training text: our policies' chats, rendered by the chat template."""
    from services.training.crafter_chats import crafter_chats

    rows = [*crafter_chats(TEACHER_SEEDS, "teacher", CORPUS_MAX_TURNS)]
    rows += crafter_chats(RANDOM_SEEDS, "random", CORPUS_MAX_TURNS)
    renderer = _wrap(_empty_tokenizer())
    return [str(renderer.apply_chat_template(row["messages"], tokenize=False)) for row in rows]


def _empty_tokenizer() -> Any:
    """The tokenizer pipeline before training: line-level split, then byte-level without the regex."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split("\n", "merged_with_previous"),
            pre_tokenizers.Split(Regex(JSON_STRING), "merged_with_previous"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in (PAD, IM_START, IM_END)])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in (TOOL_CALL_START, TOOL_CALL_END)])
    return tok


def _wrap(tok: Any) -> Any:
    from transformers import PreTrainedTokenizerFast

    wrapped = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, eos_token=IM_END, pad_token=PAD, model_max_length=MAX_POSITIONS
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_tokenizer(texts: list[str]) -> Any:
    """The trained tokenizer (a ``PreTrainedTokenizerFast`` with the chat template set)."""
    from tokenizers import pre_tokenizers, trainers

    tok = _empty_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        min_frequency=MIN_MERGE_FREQUENCY,
        special_tokens=[PAD, IM_START, IM_END],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return _wrap(tok)


def build_tiny_qwen3(folder: Path) -> None:
    """Build the tokenizer and the seeded model into ``folder`` (created; must not exist)."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    folder.mkdir(parents=True)
    tokenizer = build_tokenizer(corpus_texts())
    eos, pad = tokenizer.convert_tokens_to_ids([IM_END, PAD])
    config = Qwen3Config(
        vocab_size=len(tokenizer), bos_token_id=None, eos_token_id=eos, pad_token_id=pad, **MODEL_CONFIG
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(INIT_SEED)
        model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = pad
    model.generation_config.bos_token_id = None
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    marker = {
        "name": TINY_QWEN3,
        "recipe_version": RECIPE_VERSION,
        "parameters": sum(p.numel() for p in model.parameters()),
        "vocab_size": len(tokenizer),
        "corpus": {"teacher_seeds": list(TEACHER_SEEDS), "random_seeds": list(RANDOM_SEEDS)},
        "init_seed": INIT_SEED,
    }
    (folder / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
