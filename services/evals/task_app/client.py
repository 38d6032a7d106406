"""A client for task apps that speak synth-ai's grpo-crafter contract (ours, or synth-ai 0.2.10's own).

The eval launcher's ``--task-app URL`` mode plays its episodes through this module:
:func:`check_task_app` once before any episode, then :func:`run_rollout` per seed. Both exist as
coroutines (``acheck_task_app``, ``arun_rollout``; pass one pooled ``httpx.AsyncClient`` when running
many episodes concurrently) and as blocking wrappers.

What the contract makes tricky, and how this module copes (shared/reference/task_app_and_eval.md):

- Auth answers differ: a missing server key is 503, a wrong or missing header 400 (deliberately),
  the legacy check inside ``/rollout`` 401, and old apps answer ``/health`` 200 with
  ``authorized: false``. :class:`TaskAppError` names each case in words.
- 0.2.10 cuts a rollout to ``policy.config.max_llm_calls`` decisions (default 10) and the legacy
  path to ``env.config.env_params.max_steps_per_episode`` (default 20): we set both to ``max_turns``.
- The final observation loses the achievements, so they are the union of every step's
  ``info.achievements_added`` (plus whatever the final observation or trace still says).
- Partial rollouts come back as HTTP 200 with ``final.rollout_status`` = ``partial_*``: reported as
  ``partial=True`` with the reason, never as a crash.

Errors that would hit every episode alike (unreachable, key refused, no ``/rollout`` route, request
refused as invalid) raise :class:`TaskAppError`; one episode's failure (HTTP 500, a timeout, a body
that is not a rollout) comes back as a :class:`TaskAppRollout` with ``error`` set, so finished
episodes are never lost.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping
from typing import Any, Literal

import httpx
from pydantic import BaseModel, Field

from services.common.secrets import mask_secret, mask_url, redact
from services.traces.achievement_keys import ACHIEVEMENTS

#: What the launcher sends as the policy's name: the grpo-crafter app's ReAct policy.
DEFAULT_POLICY_NAME = "crafter-react"
DEFAULT_TIMEOUT_S = 600.0
PREFLIGHT_TIMEOUT_S = 15.0
API_KEY_HEADER = "X-API-Key"

ErrorKind = Literal[
    "unreachable", "missing_key", "bad_key", "server_key_unset", "not_a_task_app", "rejected", "server_error"
]

_KNOWN = frozenset(ACHIEVEMENTS)
_STEP_RE = re.compile(r"^Step:\s*(\d+)\s*/", re.M)
_HEALTH_RE = re.compile(r"^Health:\s*(-?\d+(?:\.\d+)?)", re.M)
_ACHIEVEMENTS_RE = re.compile(r"^Achievements:\s*(.*)$", re.M)


class TaskAppError(Exception):
    """The task app cannot be used at all (the message says why, for the user); ``kind`` for callers."""

    def __init__(self, message: str, kind: ErrorKind, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind: ErrorKind = kind
        self.status = status


class TaskAppInfo(BaseModel):
    """What the preflight learnt: the app's task, dataset and inference facts (``/info``)."""

    url: str
    task_id: str | None = None
    task_name: str | None = None
    version: str | None = None
    #: ``/health``'s ``auth.expected_prefix`` (a few characters of the server's key), when given.
    expected_key_prefix: str | None = None
    dataset: dict[str, Any] = Field(default_factory=dict)
    inference: dict[str, Any] = Field(default_factory=dict)
    #: ``/task_info?seed=N`` for the seed asked about, when one was.
    seed_info: dict[str, Any] | None = None
    raw_info: dict[str, Any] = Field(default_factory=dict)


class TaskAppRollout(BaseModel):
    """One episode as the task app played it (``POST /rollout``), reduced to what an eval reports."""

    seed: int
    run_id: str
    #: Unique achievement names: the union of every step's ``achievements_added`` (the final
    #: observation loses them), plus the final observation's and the trace's when present.
    achievements: list[str] = Field(default_factory=list)
    #: Policy decisions the app made (trajectory steps).
    decisions: int = 0
    #: Crafter env steps (actions executed), from the final observation's step counter when it has one.
    steps: int = 0
    died: bool = False
    #: Decisions without a usable tool call (our app marks them; 0.2.10 ends the rollout on the first).
    tool_call_failures: int = 0
    #: True when the app ended the rollout early (``final.rollout_status`` = ``partial_*``) or failed.
    partial: bool = False
    #: ``complete``, the app's ``partial_*`` status, or ``failed`` (no rollout came back).
    status: str = "complete"
    total_reward: float = 0.0
    error: str | None = None
    ops_executed: int = 0
    aborted: bool = False
    raw_metrics: dict[str, Any] = Field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- helpers


def _base(url: str) -> str:
    text = url.strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise TaskAppError(f"Task app URL {text!r} must start with http:// or https://.", "unreachable")
    return text


def _headers(api_key: str | None) -> dict[str, str]:
    headers = {"Accept": "application/json", "User-Agent": "sft-studio"}
    if api_key:
        headers[API_KEY_HEADER] = api_key
    return headers


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail(response: httpx.Response, api_key: str | None) -> str:
    """The server's error text, short: FastAPI's ``detail`` / ``error.message``, else the body's start."""
    data = _json(response)
    text: str | None = None
    if isinstance(data, dict):
        detail = data.get("detail", data)
        if isinstance(detail, dict) and isinstance(detail.get("error"), dict):
            err = detail["error"]
            code, message = err.get("code"), err.get("message")
            text = f"{code}: {message}" if code and message else str(message or code or "")
        elif isinstance(detail, dict):
            text = str(detail.get("message") or detail.get("error") or json.dumps(detail)[:200])
        elif detail is not None:
            text = str(detail)
    if not text:
        text = " ".join(response.text[:200].split()) or response.reason_phrase
    return redact(text[:300], [api_key])


def _auth_error(response: httpx.Response, shown: str, api_key: str | None, where: str) -> TaskAppError:
    status = response.status_code
    detail = _detail(response, api_key)
    if status == 503:
        return TaskAppError(
            f"Task app at {shown} has no key of its own (HTTP 503 on {where}: {detail}). "
            "Start it with ENVIRONMENT_API_KEY set.",
            "server_key_unset",
            status,
        )
    if not api_key:
        return TaskAppError(
            f"Task app at {shown} needs a key (HTTP {status} on {where}: {detail}). "
            f"Set ENVIRONMENT_API_KEY to the app's key; it is sent as {API_KEY_HEADER}.",
            "missing_key",
            status,
        )
    how = "its key check" if status == 400 else "its rollout key check (legacy, HTTP 401)"
    return TaskAppError(
        f"Task app at {shown} rejected the key {mask_secret(api_key)} in {how} (HTTP {status} on {where}: "
        f"{detail}). Set ENVIRONMENT_API_KEY to the key the app was started with.",
        "bad_key",
        status,
    )


async def _get(client: httpx.AsyncClient, url: str, shown: str, api_key: str | None, path: str) -> httpx.Response:
    try:
        return await client.get(url + path, headers=_headers(api_key))
    except httpx.TimeoutException as exc:
        raise TaskAppError(
            f"Task app at {shown} did not answer GET {path} in time ({type(exc).__name__}).", "unreachable"
        ) from None
    except httpx.RequestError as exc:
        raise TaskAppError(
            f"Cannot reach task app at {shown}: {redact(f'{type(exc).__name__}: {exc}', [api_key])}.", "unreachable"
        ) from None


def _dict_or_fail(response: httpx.Response, shown: str, path: str) -> dict[str, Any]:
    data = _json(response)
    if not isinstance(data, dict):
        start = " ".join(response.text[:80].split())
        raise TaskAppError(
            f"{shown} answered GET {path} with something that is not a task app's JSON ({start!r}).",
            "not_a_task_app",
            response.status_code,
        )
    return data


# ----------------------------------------------------------------------------------------------- preflight


async def acheck_task_app(
    url: str,
    api_key: str | None,
    *,
    seed: int | None = None,
    timeout_s: float = PREFLIGHT_TIMEOUT_S,
    client: httpx.AsyncClient | None = None,
) -> TaskAppInfo:
    """``/health`` → ``/info`` (→ ``/task_info?seed=`` when ``seed`` is given); :class:`TaskAppError` if unusable."""
    base = _base(url)
    shown = mask_url(base)
    own = client is None
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)))
    try:
        health = await _get(http, base, shown, api_key, "/health")
        if health.status_code in (400, 401, 403, 503):
            raise _auth_error(health, shown, api_key, "/health")
        if health.status_code == 404:
            raise TaskAppError(f"{shown} has no /health route: is it a task app?", "not_a_task_app", 404)
        if health.status_code != 200:
            raise TaskAppError(
                f"Task app at {shown} answered GET /health with HTTP {health.status_code}: {_detail(health, api_key)}",
                "server_error",
                health.status_code,
            )
        body = _dict_or_fail(health, shown, "/health")
        if body.get("authorized") is False:  # the old hosted app: 200, but the key did not match
            raise TaskAppError(
                f"Task app at {shown} says the key {mask_secret(api_key) if api_key else '(none)'} is not "
                "authorized (/health: authorized=false). Set ENVIRONMENT_API_KEY to the app's key.",
                "missing_key" if not api_key else "bad_key",
                200,
            )
        if body.get("healthy") is False:
            raise TaskAppError(f"Task app at {shown} reports itself unhealthy (/health).", "server_error", 200)
        auth = body.get("auth")
        prefix = auth.get("expected_prefix") if isinstance(auth, dict) else None

        info_resp = await _get(http, base, shown, api_key, "/info")
        if info_resp.status_code in (400, 401, 403, 503):
            raise _auth_error(info_resp, shown, api_key, "/info")
        if info_resp.status_code != 200:
            raise TaskAppError(
                f"Task app at {shown} answered GET /info with HTTP {info_resp.status_code}: "
                f"{_detail(info_resp, api_key)}",
                "not_a_task_app" if info_resp.status_code == 404 else "server_error",
                info_resp.status_code,
            )
        info = _dict_or_fail(info_resp, shown, "/info")
        service = _dict(info.get("service"))
        task = _dict(service.get("task"))
        seed_info: dict[str, Any] | None = None
        if seed is not None:
            ti = await _get(http, base, shown, api_key, f"/task_info?seed={int(seed)}")
            if ti.status_code != 200:
                raise TaskAppError(
                    f"Task app at {shown} answered GET /task_info?seed={seed} with HTTP {ti.status_code}: "
                    f"{_detail(ti, api_key)}",
                    "server_error",
                    ti.status_code,
                )
            seed_info = _dict_or_fail(ti, shown, "/task_info")
        return TaskAppInfo(
            url=base,
            task_id=_str_or_none(task.get("id")),
            task_name=_str_or_none(task.get("name")),
            version=_str_or_none(service.get("version") or task.get("version")),
            expected_key_prefix=_str_or_none(prefix),
            dataset=_dict(info.get("dataset")),
            inference=_dict(info.get("inference")),
            seed_info=seed_info,
            raw_info=info,
        )
    finally:
        if own:
            await http.aclose()


def check_task_app(url: str, api_key: str | None, *, seed: int | None = None, timeout_s: float = 15.0) -> TaskAppInfo:
    """Blocking :func:`acheck_task_app` (not from inside a running event loop)."""
    return asyncio.run(acheck_task_app(url, api_key, seed=seed, timeout_s=timeout_s))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_or_none(value: Any) -> str | None:
    return str(value) if value is not None else None


# ----------------------------------------------------------------------------------------------- rollouts


def rollout_request(
    *,
    seed: int,
    model: str,
    inference_url: str,
    max_turns: int,
    temperature: float | None = None,
    max_tokens: int | None = None,
    run_id: str | None = None,
    policy_name: str = DEFAULT_POLICY_NAME,
    difficulty: str = "easy",
    policy_config: Mapping[str, Any] | None = None,
    return_trace: bool = False,
) -> dict[str, Any]:
    """The ``POST /rollout`` body: ``max_turns`` decisions, with both hidden caps lifted to match."""
    if max_turns < 1:
        raise ValueError("max_turns must be at least 1")
    config: dict[str, Any] = {"model": model, "inference_url": inference_url, "max_llm_calls": max_turns}
    if temperature is not None:
        config["temperature"] = temperature
    if max_tokens is not None:
        config["max_tokens"] = max_tokens
    config.update(policy_config or {})
    config["max_llm_calls"] = max_turns  # whatever policy_config said: the cap must equal max_turns
    return {
        "run_id": run_id or f"eval-{seed}",
        "env": {
            "env_name": "crafter",
            "seed": seed,
            "config": {"difficulty": difficulty, "env_params": {"max_steps_per_episode": max_turns}},
        },
        "policy": {"policy_name": policy_name, "config": config},
        "ops": ["agent", "env"] * max_turns,
        "record": {"trajectories": True, "return_trace": return_trace, "trace_format": "compact"},
        "on_done": "terminate",
    }


async def arun_rollout(
    task_app_url: str,
    *,
    seed: int,
    model: str,
    inference_url: str,
    max_turns: int,
    api_key: str | None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    run_id: str | None = None,
    policy_name: str = DEFAULT_POLICY_NAME,
    policy_config: Mapping[str, Any] | None = None,
    client: httpx.AsyncClient | None = None,
) -> TaskAppRollout:
    """Play one episode on the task app; see the module doc for what raises and what is reported."""
    base = _base(task_app_url)
    shown = mask_url(base)
    body = rollout_request(
        seed=seed,
        model=model,
        inference_url=inference_url,
        max_turns=max_turns,
        temperature=temperature,
        max_tokens=max_tokens,
        run_id=run_id,
        policy_name=policy_name,
        policy_config=policy_config,
    )
    rid = str(body["run_id"])
    own = client is None
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)))
    try:
        try:
            response = await http.post(base + "/rollout", json=body, headers=_headers(api_key), timeout=timeout_s)
        except httpx.ConnectError as exc:
            raise TaskAppError(
                f"Cannot reach task app at {shown}: {redact(str(exc) or type(exc).__name__, [api_key])}.",
                "unreachable",
            ) from None
        except httpx.TimeoutException as exc:
            return _failed(seed, rid, f"the task app did not answer within {timeout_s:g} s ({type(exc).__name__})")
        except httpx.RequestError as exc:
            return _failed(seed, rid, redact(f"{type(exc).__name__}: {exc}", [api_key]))
    finally:
        if own:
            await http.aclose()
    status = response.status_code
    if status in (400, 401, 403, 503):
        raise _auth_error(response, shown, api_key, "/rollout")
    if status in (404, 405):
        raise TaskAppError(f"{shown} has no POST /rollout route (HTTP {status}).", "not_a_task_app", status)
    if status == 422:
        raise TaskAppError(
            f"Task app at {shown} refused the rollout request (HTTP 422: {_detail(response, api_key)}).",
            "rejected",
            status,
        )
    if status != 200:
        return _failed(seed, rid, f"HTTP {status}: {_detail(response, api_key)}")
    data = _json(response)
    if not isinstance(data, dict):
        return _failed(seed, rid, "the answer to /rollout is not JSON")
    return parse_rollout(data, seed=seed, run_id=rid)


def run_rollout(
    task_app_url: str,
    *,
    seed: int,
    model: str,
    inference_url: str,
    max_turns: int,
    api_key: str | None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> TaskAppRollout:
    """Blocking :func:`arun_rollout` (not from inside a running event loop)."""
    return asyncio.run(
        arun_rollout(
            task_app_url,
            seed=seed,
            model=model,
            inference_url=inference_url,
            max_turns=max_turns,
            api_key=api_key,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout_s=timeout_s,
        )
    )


def _failed(seed: int, run_id: str, error: str) -> TaskAppRollout:
    return TaskAppRollout(seed=seed, run_id=run_id, partial=True, status="failed", error=error)


# ----------------------------------------------------------------------------------------------- parsing


def _known(names: Any) -> set[str]:
    if isinstance(names, dict):
        names = [k for k, v in names.items() if v]
    if not isinstance(names, list | tuple | set):
        return set()
    return {str(n) for n in names if str(n) in _KNOWN}


def _actions_in(tool_calls: Any) -> int:
    """How many Crafter actions a step's tool calls asked for (``interact_many`` or one per call)."""
    if not isinstance(tool_calls, list):
        return 0
    count = 0
    for call in tool_calls:
        if not isinstance(call, dict):
            continue
        args = call.get("arguments", call.get("args"))
        if isinstance(args, str):
            try:
                args = json.loads(args)
            except ValueError:
                args = None
        actions = args.get("actions") if isinstance(args, dict) else None
        count += min(len(actions), 8) if isinstance(actions, list) else 1
    return count


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _from_observation(obs: Any) -> tuple[set[str], int | None, float | None]:
    """(achievements, env step counter, health) from a final observation: raw dict or ``{text}``."""
    if not isinstance(obs, dict):
        return set(), None, None
    found = _known(obs.get("achievements_status"))
    step = _number(obs.get("num_steps_taken"))
    inventory = obs.get("inventory")
    health = _number(inventory.get("health")) if isinstance(inventory, dict) else None
    health = _number(obs.get("health")) if health is None else health
    text = obs.get("text")
    if isinstance(text, str):
        line = _ACHIEVEMENTS_RE.search(text)
        if line:
            found |= _known([a.strip() for a in line.group(1).split(",")])
        if step is None and (m := _STEP_RE.search(text)):
            step = float(m.group(1))
        if health is None and (m := _HEALTH_RE.search(text)):
            health = float(m.group(1))
    return found, (int(step) if step is not None else None), health


def parse_rollout(data: dict[str, Any], *, seed: int, run_id: str) -> TaskAppRollout:
    """Reduce a ``/rollout`` answer (ours or synth-ai's) to a :class:`TaskAppRollout`."""
    trajectories = data.get("trajectories")
    if not isinstance(trajectories, list) or not trajectories or not isinstance(trajectories[0], dict):
        return _failed(seed, run_id, "the rollout answer holds no trajectory")
    traj = trajectories[0]
    steps = [s for s in traj.get("steps") or [] if isinstance(s, dict)]
    final = _dict(traj.get("final"))
    achievements: set[str] = set()
    tool_failures = 0
    actions = 0
    executed_known = True
    executed = 0
    for step in steps:
        info = _dict(step.get("info"))
        achievements |= _known(info.get("achievements_added"))
        stepwise = info.get("stepwise")
        if isinstance(stepwise, dict):
            achievements |= _known(stepwise.get("new_achievements"))
        meta = _dict(info.get("meta"))
        if info.get("reason") == "no_tool_calls" or meta.get("tool_call_ok") is False:
            tool_failures += 1
        actions += _actions_in(step.get("tool_calls"))
        ran = _number(info.get("steps_executed"))
        if ran is None:
            executed_known = False
        else:
            executed += int(ran)
    final_found, final_step, health = _from_observation(final.get("observation"))
    achievements |= final_found
    trace = data.get("trace")
    if isinstance(trace, dict):
        meta = _dict(trace.get("metadata"))
        achievements |= _known(meta.get("final_achievements"))
    metrics = _dict(data.get("metrics"))
    details = _dict(metrics.get("details"))
    stepwise_details = _dict(details.get("stepwise"))
    for key in ("unique_achievements", "achievements_seen", "final_achievements"):
        achievements |= _known(stepwise_details.get(key))
    status = str(final.get("rollout_status") or "complete")
    partial = status.startswith("partial")
    if status == "partial_no_tool_calls" and not any(
        _dict(s.get("info")).get("reason") == "no_tool_calls" for s in steps
    ):
        tool_failures += 1  # the terminal step was left out: count the answer that ended the rollout
    error = final.get("error")
    if final_step is not None:
        env_steps = final_step
    elif executed_known and steps:
        env_steps = executed
    else:
        env_steps = actions
    returns = metrics.get("episode_returns")
    total = _number(metrics.get("mean_return"))
    if total is None and isinstance(returns, list) and returns:
        total = _number(returns[0])
    if total is None:
        total = sum(_number(s.get("reward")) or 0.0 for s in steps)
    ops = _number(data.get("ops_executed"))
    return TaskAppRollout(
        seed=seed,
        run_id=str(data.get("run_id") or run_id),
        achievements=sorted(achievements),
        decisions=len(steps),
        steps=env_steps,
        died=health is not None and health <= 0,
        tool_call_failures=tool_failures,
        partial=partial,
        status=status,
        total_reward=total,
        error=str(error) if error else None,
        ops_executed=int(ops) if ops is not None else 0,
        aborted=bool(data.get("aborted")),
        raw_metrics=metrics,
    )


__all__ = [
    "DEFAULT_POLICY_NAME",
    "TaskAppError",
    "TaskAppInfo",
    "TaskAppRollout",
    "acheck_task_app",
    "arun_rollout",
    "check_task_app",
    "parse_rollout",
    "rollout_request",
    "run_rollout",
]
