"""The task app's key check, answered exactly as synth-ai's grpo-crafter app answers it.

Clients written for grpo-crafter tell the cases apart by status code, so the codes are the
reference's own: no server key → 503 ``missing_environment_api_key``; a missing or wrong header →
**400** ``unauthorised`` (synth-ai chose 400 to make preflight failures unmistakable); the legacy
check inside ``/rollout`` (only ``X-API-Key`` against the primary and dev keys) → 401. Unlike the
reference, the 400 body shows no key prefixes: a wrong guess should not learn part of the right key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from fastapi import HTTPException, Request

from services.common.secrets import mask_secret

KEY_ENV = "ENVIRONMENT_API_KEY"
DEV_KEY_ENVS = ("dev_environment_api_key", "DEV_ENVIRONMENT_API_KEY")
ALIASES_ENV = "ENVIRONMENT_API_KEY_ALIASES"


def primary_key(env: Mapping[str, str] | None = None) -> str | None:
    """``ENVIRONMENT_API_KEY``, else the first dev fallback that is set."""
    source = os.environ if env is None else env
    for name in (KEY_ENV, *DEV_KEY_ENVS):
        value = (source.get(name) or "").strip()
        if value:
            return value
    return None


def allowed_keys(env: Mapping[str, str] | None = None) -> set[str]:
    """The primary key plus the comma-separated ``ENVIRONMENT_API_KEY_ALIASES``."""
    source = os.environ if env is None else env
    keys = {k for k in [primary_key(source)] if k}
    keys |= {part.strip() for part in (source.get(ALIASES_ENV) or "").split(",") if part.strip()}
    return keys


def _candidates(request: Request) -> list[str]:
    raw = [request.headers.get("x-api-key") or "", request.headers.get("x-api-keys") or ""]
    auth = request.headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        raw.append(auth.split(" ", 1)[1])
    return [part.strip() for value in raw for part in value.split(",") if part.strip()]


def _error(status: int, code: str, message: str, **extra: object) -> HTTPException:
    return HTTPException(status_code=status, detail={"error": {"code": code, "message": message, **extra}})


def require_key(request: Request) -> None:
    """FastAPI dependency on every route but ``/``: 503 without a server key, 400 without a match."""
    allowed = allowed_keys()
    if not allowed:
        raise _error(503, "missing_environment_api_key", f"{KEY_ENV} is not configured")
    got = _candidates(request)
    if not any(candidate in allowed for candidate in got):
        raise _error(
            400,
            "unauthorised",
            "API key missing or invalid",
            allowed_count=len(allowed),
            got_count=len(got),
            got_lens=[len(c) for c in got],
        )


def require_rollout_key(request: Request) -> None:
    """The legacy check inside ``/rollout``: ``X-API-Key`` must be the primary or a dev key (401)."""
    source = os.environ
    expected = {v.strip() for v in (source.get(KEY_ENV), *(source.get(n) for n in DEV_KEY_ENVS)) if v and v.strip()}
    header = (request.headers.get("x-api-key") or "").strip()
    if not header:
        raise HTTPException(401, "Invalid or missing API key: X-API-Key header not provided")
    if header not in expected:
        raise HTTPException(401, f"Invalid API key: header does not match expected (got={mask_secret(header)})")


def expected_prefix() -> str:
    """What ``/health`` shows of the server key: masked (never enough of it to guess the rest)."""
    key = primary_key()
    return mask_secret(key) if key else "<unset>"
