"""The inference worker child: ``python -m services.training.inference.worker``.

Besides the trainer this is the only process of the local backend that imports torch; the server
talks to it through :mod:`services.training.inference.client`. One JSON object per line in each
direction (the requests are :class:`GenerateRequest`; each gets exactly one reply line, in order):

    → {"id": 1, "op": "generate", "model_path": "...", "messages": [...], "tools": [...],
       "temperature": 0.0, "max_tokens": 64, "seed": null}
    ← {"id": 1, "ok": true, "text": "...", "prompt_tokens": 80, "completion_tokens": 12,
       "finish_reason": "stop"}
    ← {"id": 1, "ok": false, "error": "one line", "kind": "bad_request" | "load" | "internal"}

``{"op": "generate_batch", "id": 2, "requests": [...]}`` asks for several generations at once
(same model, greedy or unseeded sampling: the client groups them) and gets one line back,
``{"id": 2, "ok": true, "results": [...]}``, one reply body per request in order, each with its
own ``ok``. One batched ``generate`` call costs little more than one alone on a small model, so
concurrent callers (the eval launcher's episodes) are served several times faster.

``{"op": "ping"}`` answers ``{"ok": true, "pong": true}`` (start-up check). Models are loaded once
and kept in a small LRU keyed by folder path; a folder with ``adapter_config.json`` is a PEFT
adapter, loaded on top of the base folder it names. Library chatter on stdout is moved to stderr so
it cannot corrupt the protocol. Torch threads are limited (``SFT_STUDIO_INFERENCE_THREADS``, default
1) so inference does not starve a training job on a small CPU box, and the worker dies with its
parent.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections import OrderedDict
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.child_process import die_with_parent

THREADS_ENV = "SFT_STUDIO_INFERENCE_THREADS"
CACHE_ENV = "SFT_STUDIO_INFERENCE_CACHE"
DEFAULT_CACHE_SIZE = 2
#: The most tokens one completion may generate, whatever the request asks.
MAX_TOKENS_CAP = 1024


class GenerateRequest(BaseModel):
    """One generation asked of the worker (already validated by the routes)."""

    model_config = ConfigDict(extra="ignore")

    id: int = 0
    op: Literal["generate"] = "generate"
    model_path: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    temperature: float = Field(default=0.0, ge=0.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int = Field(default=256, ge=1)
    seed: int | None = None
    chat_template_kwargs: dict[str, Any] = Field(default_factory=dict)


class WorkerFailure(Exception):
    """A request the worker could not serve; ``kind`` tells the routes which HTTP status fits."""

    def __init__(self, message: str, kind: Literal["bad_request", "load", "internal"]) -> None:
        super().__init__(message)
        self.kind = kind


class _Loaded:
    """A model with its tokenizer and the token ids that end or pad a completion."""

    def __init__(self, model: Any, tokenizer: Any, device: str) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.device = device
        config = getattr(model, "generation_config", None)
        eos = getattr(config, "eos_token_id", None)
        if eos is None:
            eos = tokenizer.eos_token_id
        self.eos_ids: set[int] = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        pad = getattr(config, "pad_token_id", None)
        self.pad_id: int | None = pad if isinstance(pad, int) else tokenizer.pad_token_id
        if self.pad_id is None and self.eos_ids:
            self.pad_id = min(self.eos_ids)
        limit = getattr(model.config, "max_position_embeddings", None)
        self.context: int | None = limit if isinstance(limit, int) and limit > 0 else None


class Engine:
    """Loads models (a small LRU by folder) and generates; used by :func:`main`, tests call it too."""

    def __init__(self, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        import torch

        self._torch = torch
        self.cache_size = max(1, cache_size)
        self._cache: OrderedDict[str, _Loaded] = OrderedDict()
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.loads = 0

    def loaded(self) -> list[str]:
        """Folders held now, least recently used first."""
        return list(self._cache)

    def model(self, path: str) -> _Loaded:
        key = str(Path(path).resolve())
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        loaded = self._load(Path(key))
        self._cache[key] = loaded
        self.loads += 1
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return loaded

    def _load(self, folder: Path) -> _Loaded:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not folder.is_dir():
            raise WorkerFailure(f"model folder {folder} does not exist", "load")
        dtype = self._torch.bfloat16 if self.device == "cuda" else self._torch.float32
        adapter_config = folder / "adapter_config.json"
        try:
            if adapter_config.is_file():
                from peft import PeftModel

                config = json.loads(adapter_config.read_text(encoding="utf-8"))
                base = str(config.get("base_model_name_or_path") or "")
                if not base or not Path(base).is_dir():
                    why = f"the adapter in {folder} names base model {base!r}, not on this machine"
                    raise WorkerFailure(why, "load")
                base_model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype, local_files_only=True)
                model: Any = PeftModel.from_pretrained(base_model, str(folder))
                tok_dir = folder if (folder / "tokenizer_config.json").is_file() else Path(base)
            else:
                model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype, local_files_only=True)
                tok_dir = folder
            tokenizer = AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)
        except WorkerFailure:
            raise
        except (OSError, ValueError, KeyError) as exc:
            raise WorkerFailure(f"cannot load the model in {folder}: {_one_line(exc)}", "load") from exc
        if not getattr(tokenizer, "chat_template", None):
            raise WorkerFailure(f"the tokenizer in {folder} has no chat template", "load")
        model.to(self.device)
        model.eval()
        return _Loaded(model, tokenizer, self.device)

    def _prompt(self, loaded: _Loaded, request: GenerateRequest) -> tuple[list[int], int]:
        """The rendered prompt's token ids and this request's token budget (capped by the context)."""
        try:
            encoded = loaded.tokenizer.apply_chat_template(
                request.messages,
                tools=request.tools,
                add_generation_prompt=True,
                return_dict=True,
                **request.chat_template_kwargs,
            )
        except Exception as exc:  # jinja errors, bad message shapes: the request's fault
            why = f"the chat template cannot render these messages: {_one_line(exc)}"
            raise WorkerFailure(why, "bad_request") from exc
        ids = [int(t) for t in encoded["input_ids"]]
        budget = min(request.max_tokens, MAX_TOKENS_CAP)
        if loaded.context is not None:
            room = loaded.context - len(ids)
            if room < 1:
                raise WorkerFailure(
                    f"the prompt is {len(ids)} tokens; this model's context is {loaded.context}", "bad_request"
                )
            budget = min(budget, room)
        return ids, budget

    def _sampling(self, request: GenerateRequest, loaded: _Loaded) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"pad_token_id": loaded.pad_id, "eos_token_id": sorted(loaded.eos_ids) or None}
        if request.temperature > 0:
            kwargs.update(do_sample=True, temperature=request.temperature, top_k=0)
            if request.top_p is not None:
                kwargs["top_p"] = request.top_p
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def _completion(self, loaded: _Loaded, prompt_tokens: int, new: list[int], budget: int) -> dict[str, Any]:
        """The reply body for one row of generated ids (cut at its own budget and its first end token)."""
        new = new[:budget]
        for i, token in enumerate(new):
            if token in loaded.eos_ids:
                new = new[: i + 1]
                break
        finish = "stop" if new and new[-1] in loaded.eos_ids else "length"
        kept = [t for t in new if t not in loaded.eos_ids and t != loaded.pad_id]
        return {
            "text": loaded.tokenizer.decode(kept, skip_special_tokens=False),
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(new),
            "finish_reason": finish,
        }

    def generate(self, request: GenerateRequest) -> dict[str, Any]:
        """Text and token counts of one completion (greedy at temperature 0, else seeded sampling)."""
        torch = self._torch
        loaded = self.model(request.model_path)
        ids, budget = self._prompt(loaded, request)
        input_ids = torch.tensor([ids], device=loaded.device)
        kwargs = self._sampling(request, loaded)
        if request.temperature > 0 and request.seed is not None:
            torch.manual_seed(request.seed)
        with torch.inference_mode():
            output = loaded.model.generate(
                input_ids=input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=budget, **kwargs
            )
        return self._completion(loaded, len(ids), [int(t) for t in output[0, len(ids) :].tolist()], budget)

    def generate_batch(self, requests: list[GenerateRequest]) -> list[dict[str, Any] | WorkerFailure]:
        """Several completions in one left-padded ``generate`` call; a request that fails on its own
        (a prompt too long, a template error) gets its WorkerFailure in its place, the rest still run.

        Callers batch only requests for one model with the same sampling settings and no seed (a seed
        is a promise of the single-request random stream). Greedy rows come out as they would alone.
        """
        torch = self._torch
        if len(requests) == 1:
            try:
                return [self.generate(requests[0])]
            except WorkerFailure as exc:
                return [exc]
        loaded = self.model(requests[0].model_path)  # a load failure fails the whole batch
        results: list[dict[str, Any] | WorkerFailure] = []
        rows: list[tuple[int, list[int], int]] = []
        for index, request in enumerate(requests):
            try:
                ids, budget = self._prompt(loaded, request)
            except WorkerFailure as exc:
                results.append(exc)
                continue
            results.append({})
            rows.append((index, ids, budget))
        if not rows:
            return results
        width = max(len(ids) for _, ids, _ in rows)
        pad = loaded.pad_id if loaded.pad_id is not None else 0
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for _, ids, _ in rows], device=loaded.device)
        attention = torch.tensor(
            [[0] * (width - len(ids)) + [1] * len(ids) for _, ids, _ in rows], device=loaded.device
        )
        kwargs = self._sampling(requests[rows[0][0]], loaded)
        with torch.inference_mode():
            output = loaded.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=max(budget for _, _, budget in rows),
                **kwargs,
            )
        for row, (index, ids, budget) in enumerate(rows):
            results[index] = self._completion(loaded, len(ids), [int(t) for t in output[row, width:].tolist()], budget)
        return results


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:400]


def _reply(out: IO[str], body: dict[str, Any]) -> None:
    out.write(json.dumps(body, ensure_ascii=False) + "\n")
    out.flush()


def serve(engine: Engine, inp: IO[str], out: IO[str]) -> None:
    """Answer request lines until end of input."""
    for line in inp:
        if not line.strip():
            continue
        started = time.perf_counter()
        try:
            raw = json.loads(line)
        except ValueError:
            _reply(out, {"id": None, "ok": False, "error": "request is not JSON", "kind": "bad_request"})
            continue
        rid = raw.get("id") if isinstance(raw, dict) else None
        if isinstance(raw, dict) and raw.get("op") == "ping":
            _reply(out, {"id": rid, "ok": True, "pong": True, "device": engine.device})
            continue
        if isinstance(raw, dict) and raw.get("op") == "generate_batch":
            _reply(out, _serve_batch(engine, raw, rid, started))
            continue
        try:
            request = GenerateRequest.model_validate(raw)
            body = engine.generate(request)
        except ValidationError as exc:
            errors = exc.errors()
            why = f"{'.'.join(str(p) for p in errors[0]['loc'])}: {errors[0]['msg']}" if errors else "invalid request"
            _reply(out, {"id": rid, "ok": False, "error": why, "kind": "bad_request"})
            continue
        except WorkerFailure as exc:
            _reply(out, {"id": rid, "ok": False, "error": str(exc), "kind": exc.kind})
            continue
        except Exception as exc:  # the worker keeps serving; the traceback goes to its log (stderr)
            traceback.print_exc(file=sys.stderr)
            why = f"{type(exc).__name__}: {_one_line(exc)}"
            _reply(out, {"id": rid, "ok": False, "error": why, "kind": "internal"})
            continue
        body.update(id=rid, ok=True, seconds=round(time.perf_counter() - started, 4))
        _reply(out, body)


def _validation_reason(exc: ValidationError) -> str:
    errors = exc.errors()
    return f"{'.'.join(str(p) for p in errors[0]['loc'])}: {errors[0]['msg']}" if errors else "invalid request"


def _failure_body(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, WorkerFailure):
        return {"ok": False, "error": str(exc), "kind": exc.kind}
    traceback.print_exception(exc, file=sys.stderr)
    return {"ok": False, "error": f"{type(exc).__name__}: {_one_line(exc)}", "kind": "internal"}


def _serve_batch(engine: Engine, raw: dict[str, Any], rid: Any, started: float) -> dict[str, Any]:
    """One ``generate_batch`` line: every request gets its own body, in order."""
    items = raw.get("requests")
    if not isinstance(items, list) or not items:
        return {"id": rid, "ok": False, "error": "requests: a non-empty list is required", "kind": "bad_request"}
    slots: list[dict[str, Any] | None] = []
    valid: list[GenerateRequest] = []
    for item in items:
        try:
            valid.append(GenerateRequest.model_validate(item))
            slots.append(None)
        except ValidationError as exc:
            slots.append({"ok": False, "error": _validation_reason(exc), "kind": "bad_request"})
    bodies: list[dict[str, Any]] = []
    try:
        outcomes: list[dict[str, Any] | WorkerFailure] = engine.generate_batch(valid) if valid else []
    except Exception as exc:  # a load failure or a bug: every request of the batch gets the reason
        failed = _failure_body(exc)
        outcomes = []
        bodies = [dict(failed) if slot is None else slot for slot in slots]
    if not bodies:
        answers = iter(outcomes)
        seconds = round(time.perf_counter() - started, 4)
        for slot in slots:
            if slot is not None:
                bodies.append(slot)
                continue
            outcome = next(answers)
            if isinstance(outcome, WorkerFailure):
                bodies.append(_failure_body(outcome))
            else:
                bodies.append({**outcome, "ok": True, "seconds": seconds})
    return {"id": rid, "ok": True, "results": bodies}


def _protocol_stdout() -> IO[str]:
    """A private copy of stdout for replies; fd 1 then points at stderr, so prints and library
    warnings cannot break a reply line."""
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", encoding="utf-8", buffering=1)


def main() -> int:
    parent = int(os.environ.get("SFT_STUDIO_PARENT_PID", "0")) or None
    die_with_parent(parent)
    threads = max(1, int(os.environ.get(THREADS_ENV, "1") or 1))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = _protocol_stdout()
    import torch

    torch.set_num_threads(threads)
    engine = Engine(cache_size=int(os.environ.get(CACHE_ENV, DEFAULT_CACHE_SIZE) or DEFAULT_CACHE_SIZE))
    serve(engine, sys.stdin, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
