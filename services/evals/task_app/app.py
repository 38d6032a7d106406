"""Our grpo-crafter task app as a FastAPI application (``sft-studio task-app serve`` runs it).

Routes, auth answers and shapes follow synth-ai 0.2.10's app (shared/reference/task_app_and_eval.md
§1): ``GET|HEAD /`` without auth; ``/health``, ``/info``, ``/task_info``, ``/rollout``, ``/done``
behind the key check of ``auth.py``. Not served: the vendor proxies (``/proxy/...``; they would spend
the server's own vendor keys) and the ``/env``, ``/policy``, ``/run`` families (0.2.10 answers 404
there too). Seeds' world facts are computed in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse

from services.evals.task_app import auth, describe
from services.evals.task_app.contract import RolloutRejected, RolloutRequest
from services.evals.task_app.rollout import RolloutRunner

log = logging.getLogger(__name__)


def create_app(runner: RolloutRunner | None = None) -> FastAPI:
    """The app; ``runner`` holds the rollout settings and the tracer (a default one when omitted)."""
    rollouts = runner or RolloutRunner()
    app = FastAPI(title="sft-studio task app (grpo-crafter)", docs_url=None, redoc_url=None)
    app.state.runner = rollouts
    keyed = [Depends(auth.require_key)]

    @app.exception_handler(RolloutRejected)
    async def _rejected(_request: Request, exc: RolloutRejected) -> JSONResponse:
        return JSONResponse(status_code=exc.status, content={"detail": {"error": exc.code, "message": exc.message}})

    @app.get("/")
    async def root() -> dict[str, Any]:
        return {"status": "ok", "service": describe.SERVICE_ID}

    @app.head("/")
    async def root_head() -> dict[str, Any]:
        return {"status": "ok"}

    @app.get("/health", dependencies=keyed)
    async def health() -> dict[str, Any]:
        return {"healthy": True, "auth": {"required": True, "expected_prefix": auth.expected_prefix()}}

    @app.post("/done", dependencies=keyed)
    async def done() -> dict[str, Any]:
        return {"ok": True, "service": describe.SERVICE_ID}

    @app.get("/info", dependencies=keyed)
    async def info() -> dict[str, Any]:
        return describe.info_payload()

    @app.get("/task_info", dependencies=keyed)
    async def task_info(
        seed: Annotated[list[int] | None, Query()] = None, seeds: Annotated[list[int] | None, Query()] = None
    ) -> Any:
        wanted = [*(seed or []), *(seeds or [])]
        if not wanted:
            return describe.taskset_payload()
        bad = [s for s in wanted if s < 0 or s > describe.SEED_MAX]
        if bad:
            raise RolloutRejected(f"seed out of range 0..{describe.SEED_MAX}: {bad[0]}", code="invalid_seed")
        payloads = [await asyncio.to_thread(describe.seed_payload, s) for s in wanted]
        return payloads[0] if len(payloads) == 1 else payloads

    @app.post("/rollout", dependencies=keyed)
    async def rollout(body: RolloutRequest, request: Request) -> Any:
        auth.require_rollout_key(request)
        try:
            return await rollouts.run(body)
        except RolloutRejected:
            raise
        except Exception as exc:  # as 0.2.10: HTTP 500 with the error text (and the traceback in our log)
            log.exception("rollout %s failed", body.run_id)
            return JSONResponse(status_code=500, content={"detail": f"{type(exc).__name__}: {exc}"})

    return app
