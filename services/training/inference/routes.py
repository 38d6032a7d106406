"""The OpenAI-compatible routes of the local backend: ``GET /v1/models`` and
``POST /v1/chat/completions`` for every base and fine-tuned model the server knows.

:func:`make_inference_router` is given ``resolve_model(model_id) -> Path | None`` (and optionally
``list_models() -> list[str]`` for ``/v1/models``) by the server; it knows nothing of the store.
Generation runs in the worker child (services/training/inference/worker.py) through one
:class:`~services.training.inference.client.InferenceWorker`: requests wait in order for it, the
event loop only awaits a future. Errors use OpenAI's shape
(``{"error": {"message", "type", "param", "code"}}``): 404 ``model_not_found`` for an unknown model,
400 ``invalid_request_error`` for a bad body, 500 when the model cannot be loaded or the worker fails.
This module never imports torch.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from services.training.inference.client import InferenceError, InferenceWorker
from services.training.inference.toolcalls import parse_answer

#: max_tokens when the request names none (the worker caps any value at 1024 and the context).
DEFAULT_MAX_TOKENS = 256

ResolveModel = Callable[[str], Path | None]
ListModels = Callable[[], list[str]]


class ChatCompletionRequest(BaseModel):
    """The part of OpenAI's chat-completions body we honour; other fields are accepted and ignored
    (``parallel_tool_calls``, ``user``, ``logprobs``...)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1)
    messages: list[dict[str, Any]] = Field(min_length=1)
    tools: list[dict[str, Any]] | None = None
    tool_choice: Literal["none", "auto", "required"] | dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=1)
    stream: Literal[False] = False
    chat_template_kwargs: dict[str, Any] = Field(default_factory=dict)


def openai_error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> JSONResponse:
    """An error in OpenAI's shape (clients such as ours read ``error.message``)."""
    kind = {400: "invalid_request_error", 404: "invalid_request_error"}.get(status, "server_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(status_code=status, content=body)


def _tool_names(req: ChatCompletionRequest) -> list[str]:
    """Tools whose calls may be read from the text: none with ``tool_choice`` "none"; only the named
    one when ``tool_choice`` names a function."""
    if not req.tools or req.tool_choice == "none":
        return []
    if isinstance(req.tool_choice, dict):
        fn = req.tool_choice.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return [fn["name"]]
    names: list[str] = []
    for tool in req.tools:
        fn = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            names.append(fn["name"])
    return names


def _validation_error(exc: ValidationError) -> JSONResponse:
    errors = exc.errors()
    if not errors:
        return openai_error(400, "invalid request body")
    first = errors[0]
    param = str(first["loc"][0]) if first["loc"] else None  # the top-level field, as OpenAI names it
    if param == "stream":
        return openai_error(400, "stream: streaming is not supported by this server", param=param)
    if param == "n":
        return openai_error(400, "n: only n=1 is supported", param=param)
    return openai_error(400, f"{param or 'body'}: {first['msg']}", param=param)


def make_inference_router(
    resolve_model: ResolveModel,
    list_models: ListModels | None = None,
    *,
    worker: InferenceWorker | None = None,
) -> APIRouter:
    """The ``/v1`` routes. ``resolve_model`` maps a model id to its folder (None: unknown id); it may
    block (it runs in a thread). ``worker`` is for tests and benchmarks; by default one is made and
    closed with the app."""
    engine = worker or InferenceWorker()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(engine.close)

    router = APIRouter(lifespan=lifespan)

    def model_card(model_id: str) -> dict[str, Any]:
        return {"id": model_id, "object": "model", "created": 0, "owned_by": "sft-studio"}

    @router.get("/v1/models")
    async def models() -> JSONResponse:
        ids = await run_in_threadpool(list_models) if list_models is not None else []
        return JSONResponse({"object": "list", "data": [model_card(i) for i in ids]})

    @router.get("/v1/models/{model_id:path}")
    async def one_model(model_id: str) -> JSONResponse:
        if await run_in_threadpool(resolve_model, model_id) is None:
            return openai_error(404, f"The model '{model_id}' does not exist", param="model", code="model_not_found")
        return JSONResponse(model_card(model_id))

    @router.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> JSONResponse:
        try:
            raw = await request.json()
        except (ValueError, UnicodeDecodeError):
            return openai_error(400, "the request body is not JSON")
        if not isinstance(raw, dict):
            return openai_error(400, "the request body must be a JSON object")
        try:
            req = ChatCompletionRequest.model_validate(raw)
        except ValidationError as exc:
            return _validation_error(exc)
        folder = await run_in_threadpool(resolve_model, req.model)
        if folder is None:
            return openai_error(404, f"The model '{req.model}' does not exist", param="model", code="model_not_found")
        job = {
            "op": "generate",
            "model_path": str(folder),
            "messages": req.messages,
            "tools": req.tools if req.tool_choice != "none" else None,
            "temperature": 0.0 if req.temperature is None else req.temperature,
            "top_p": req.top_p,
            "max_tokens": req.max_completion_tokens or req.max_tokens or DEFAULT_MAX_TOKENS,
            "seed": req.seed,
            "chat_template_kwargs": req.chat_template_kwargs,
        }
        try:
            out = await asyncio.wrap_future(engine.submit(job))
        except InferenceError as exc:
            if exc.kind == "bad_request":
                return openai_error(400, exc.message)
            what = "cannot load the model" if exc.kind == "load" else "inference failed"
            return openai_error(500, f"{what}: {exc.message}", code=f"inference_{exc.kind}")
        parsed = parse_answer(str(out.get("text", "")), _tool_names(req))
        message: dict[str, Any] = {"role": "assistant", "content": parsed.content}
        finish = str(out.get("finish_reason") or "stop")
        if parsed.tool_calls:
            message["tool_calls"] = parsed.tool_calls
            finish = "tool_calls" if finish == "stop" else finish
        prompt_tokens = int(out.get("prompt_tokens", 0))
        completion_tokens = int(out.get("completion_tokens", 0))
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return JSONResponse(body)

    return router
