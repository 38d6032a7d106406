"""The Crafter policy that asks an OpenAI-compatible chat-completions server (OpenAI, Groq, vLLM).

One :class:`OpenAIChatPolicy` holds one pooled ``httpx.AsyncClient`` and is safe to ``decide``
concurrently (the collector runs many episodes on one instance). It asks exactly what the
``crafter-react`` policy of the synth-ai task app asks (system + user message, the
``interact_many`` tool), retries transient failures, and never raises for a bad *answer*: an
answer without a usable tool call becomes ``noop`` with ``tool_call_ok=False``. It raises
:class:`~services.rollouts.policy.PolicyError` only when the server cannot be used at all (unreachable,
key rejected, unknown model, keeps failing).

API keys come from the environment (see :func:`api_key_for_url`) and never appear in messages,
logs, reprs or call records.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
from pydantic import SecretStr

from services.common.echo import cap_echo
from services.common.endpoints import (
    CHAT_PATH,
    MAX_BACKOFF_S,
    MAX_RETRY_AFTER_S,
    MODELS_PATH,
    OVERRIDE_KEY_ENV,
    RETRY_STATUSES,
    api_key_env_names,
    api_key_for_url,
    api_key_source,
    normalise_base_url,
    provider_for_url,
    retry_after_seconds,
)
from services.common.secrets import mask_secret, mask_url, redact, url_secrets
from services.crafter.action_text import actions_from_text
from services.crafter.prompt import INTERACT_MANY_TOOL, TOOL_NAME, actions_from_tool_calls
from services.rollouts.policy import PolicyDecision, PolicyError
from services.traces.records import call_record_from_chat

log = logging.getLogger(__name__)

# Re-exported: callers and tests know these from here.
__all__ = [
    "MAX_RETRY_AFTER_S",
    "OVERRIDE_KEY_ENV",
    "OpenAIChatPolicy",
    "actions_from_text",
    "api_key_env_names",
    "api_key_for_url",
    "api_key_source",
    "normalise_base_url",
    "provider_for_url",
    "retry_after_seconds",
]


# --------------------------------------------------------------------------------------------
# The policy


def _error_message(response: httpx.Response) -> str:
    """The server's own error text, short: ``error.message`` when JSON, else the body's start."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message") or err.get("code") or err
        if isinstance(err, str) and err.strip():
            return err.strip()[:300]
        if err is not None:
            return json.dumps(err)[:300]
    text = response.text.strip().replace("\n", " ")
    return text[:300] or response.reason_phrase


def _error_code(data: Any) -> str | None:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        code = data["error"].get("code") or data["error"].get("type")
        return str(code) if code is not None else None
    return None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Failure(Exception):
    """One failed attempt: retryable or not, with a user-facing (unredacted) description."""

    def __init__(
        self, text: str, *, retryable: bool, response: httpx.Response | None = None, connected: bool = False
    ) -> None:
        super().__init__(text)
        self.text = text
        self.retryable = retryable
        self.response = response
        #: The server accepted the connection (then hung): not "cannot reach".
        self.connected = connected


class OpenAIChatPolicy:
    """A Policy that asks an OpenAI-compatible ``/v1/chat/completions`` endpoint.

    Use one instance for a whole collection run (it pools connections) and close it with
    :meth:`aclose` or ``async with``. ``decide`` may be awaited concurrently. ``api_key=None``
    reads the key from the environment (:func:`api_key_for_url`); ``""`` means "send no key".
    ``thinking`` sets ``chat_template_kwargs.enable_thinking`` for custom (vLLM/Qwen3) servers
    only. ``max_retries`` counts retries after the first attempt.
    """

    def __init__(
        self,
        *,
        model: str,
        inference_url: str,
        api_key: str | None = None,
        temperature: float = 0.2,
        top_p: float | None = None,
        max_tokens: int = 512,
        timeout_s: float = 60.0,
        max_retries: int = 6,
        backoff_s: float = 0.5,
        thinking: bool | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        if not model or not model.strip():
            raise ValueError("model must be a non-empty model name")
        if max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")
        if max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        self.model_name: str = model.strip()
        self.base_url: str = normalise_base_url(inference_url)
        #: What messages show: the URL with userinfo masked, the model name capped (cap_echo).
        self.shown_url: str = mask_url(self.base_url)
        self.shown_model: str = cap_echo(self.model_name)
        self._url_secrets = url_secrets(self.base_url)
        #: Called with a one-line note before each retry (a UI shows retries as they happen).
        self.on_retry = on_retry
        self.provider: str = provider_for_url(self.base_url)
        if api_key is None:
            key, source = api_key_source(self.base_url)
        else:
            key, source = (api_key.strip() or None), "the api_key argument"
        self._api_key: SecretStr | None = SecretStr(key) if key else None
        self.api_key_source: str | None = source if key else None
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.thinking = thinking
        headers = {"Accept": "application/json", "User-Agent": "sft-studio"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.AsyncClient(
            transport=transport,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0)),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            follow_redirects=False,
        )

    # ---- presentation (never the key) ----

    def __repr__(self) -> str:
        key = mask_secret(self._api_key.get_secret_value()) if self._api_key else "none"
        return (
            f"OpenAIChatPolicy(model={self.shown_model!r}, url={self.shown_url!r}, "
            f"provider={self.provider!r}, api_key={key})"
        )

    __str__ = __repr__

    def _secret(self) -> str | None:
        return self._api_key.get_secret_value() if self._api_key else None

    def _redact(self, text: str) -> str:
        return redact(text, [self._secret(), *self._url_secrets])

    def _announce_retry(self, note: str) -> None:
        log.warning("%s", note)
        if self.on_retry is not None:
            self.on_retry(note)

    def _key_hint(self) -> str:
        names = api_key_env_names(self.base_url)
        wanted = " or ".join(n for n in names if n != OVERRIDE_KEY_ENV)
        where = f"Set {wanted} (or {OVERRIDE_KEY_ENV}) to a valid key."
        if self._api_key is None:
            return f"No API key was set. {where}"
        used = mask_secret(self._secret())
        return f"Key {used} came from {self.api_key_source}. {where}"

    # ---- request building ----

    def request_body(self, system_prompt: str, user_text: str) -> dict[str, Any]:
        """The chat-completions body of one decision (also stored, minus messages, in the trace)."""
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": [
                {"role": "system", "content": system_prompt},
                {"role": "user", "content": user_text},
            ],
            "tools": [INTERACT_MANY_TOOL],
        }
        if self.provider == "openai":
            body["tool_choice"] = "required"
        else:
            body["tool_choice"] = {"type": "function", "function": {"name": TOOL_NAME}}
            body["parallel_tool_calls"] = False
        body["temperature"] = self.temperature
        if self.top_p is not None:
            body["top_p"] = self.top_p
        body["max_tokens"] = self.max_tokens
        if self.provider == "custom" and self.thinking is not None:
            body["chat_template_kwargs"] = {"enable_thinking": self.thinking}
        return body

    def _backoff(self, attempt: int, response: httpx.Response | None) -> float:
        if response is not None:
            asked = retry_after_seconds(response.headers.get("retry-after"))
            if asked is not None:
                return asked
        base = self.backoff_s * (2**attempt)
        return float(min(base * (0.5 + random.random()), MAX_BACKOFF_S))

    async def _send(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        """One attempt; HTTP errors come back as responses, transport errors as _Failure."""
        url = self.base_url + path
        try:
            if method == "GET":
                return await self._client.get(url)
            return await self._client.post(url, json=body)
        except httpx.ConnectTimeout as exc:
            raise _Failure(
                f"no connection within {min(self.timeout_s, 10.0):g} s ({type(exc).__name__})", retryable=True
            ) from exc
        except httpx.TimeoutException as exc:  # connected (or sending), then no answer in time
            raise _Failure(
                f"it did not answer within {self.timeout_s:g} s ({type(exc).__name__})",
                retryable=True,
                connected=True,
            ) from exc
        except httpx.RequestError as exc:  # connect/read/protocol errors, bad encodings
            raise _Failure(f"{type(exc).__name__}: {exc or 'connection failed'}", retryable=True) from exc
        except RuntimeError as exc:  # the client was closed
            raise _Failure(f"policy is closed ({exc})", retryable=False) from exc

    def _judge(self, response: httpx.Response) -> None:
        """Raise _Failure for a non-2xx response (retryable for 429/5xx/408) and for a 2xx answer that
        is not a chat completion at all (not JSON, or JSON without ``choices``: a proxy's error page,
        a wrong endpoint). Those are server faults, retried like a 500, never recorded as decisions."""
        status = response.status_code
        if 200 <= status < 300:
            problem = _not_a_completion(response)
            if problem is not None:
                raise _Failure(f"HTTP {status} but {problem}", retryable=True, response=response)
            return
        retryable = status in RETRY_STATUSES or status >= 500
        raise _Failure(f"HTTP {status}: {_error_message(response)}", retryable=retryable, response=response)

    async def _post_with_retries(self, path: str, body: dict[str, Any], *, what: str) -> httpx.Response:
        """POST until a non-retryable answer; raise PolicyError when retries run out."""
        last: _Failure | None = None
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._send("POST", path, body)
                self._judge(response)
                return response
            except _Failure as failure:
                if not failure.retryable:
                    if failure.response is not None:
                        return failure.response
                    raise PolicyError(self._redact(f"{what} to {self.shown_url} failed: {failure.text}")) from None
                last = failure
                if attempt < self.max_retries:
                    delay = self._backoff(attempt, failure.response)
                    self._announce_retry(
                        self._redact(
                            f"{what} to {self.shown_url} failed ({failure.text}); "
                            f"retry {attempt + 1}/{self.max_retries} in {delay:.1f}s"
                        )
                    )
                    await asyncio.sleep(delay)
        assert last is not None
        attempts = self.max_retries + 1
        raise PolicyError(
            self._redact(
                f"{what} to {self.shown_url}{path} failed after {attempts} attempt{'s' * (attempts > 1)}: {last.text}"
            )
        )

    def _fatal_status(self, response: httpx.Response) -> PolicyError:
        status = response.status_code
        detail = _error_message(response)
        if status in (401, 403):
            msg = (
                f"Inference server at {self.shown_url} rejected the API key (HTTP {status}: {detail}). "
                + self._key_hint()
            )
        elif status == 404:
            msg = (
                f"Model {self.shown_model!r} is not served by {self.shown_url} "
                f"(HTTP 404 on {CHAT_PATH}: {detail}); check the model name and the URL"
            )
        else:
            msg = f"Inference server at {self.shown_url} rejected the request (HTTP {status}): {detail}"
        return PolicyError(self._redact(msg))

    # ---- Policy protocol ----

    async def decide(self, system_prompt: str, user_text: str) -> PolicyDecision:
        """One decision. Raises PolicyError only when the server cannot be used (see module doc)."""
        started = time.perf_counter()
        body = self.request_body(system_prompt, user_text)
        response = await self._post_with_retries(CHAT_PATH, body, what="Inference call")
        if response.status_code == 400 and "token_budget_exceeded" in response.text and self.max_tokens > 16:
            body = {**body, "max_tokens": max(16, self.max_tokens // 2)}
            response = await self._post_with_retries(CHAT_PATH, body, what="Inference call")
        latency_ms = int((time.perf_counter() - started) * 1000)
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        error: str | None = None
        if response.status_code >= 300:
            code = _error_code(data)
            if response.status_code == 400 and code == "tool_use_failed":
                # Groq: the model's tool call did not parse; its text is in error.failed_generation.
                error = self._redact(f"HTTP 400 tool_use_failed: {_error_message(response)}")
            else:
                raise self._fatal_status(response)
        reached = True
        if not isinstance(data, dict):
            data = {"error": {"message": "response is not a JSON object", "body": self._redact(response.text[:500])}}
            error = "response is not a JSON object"
            reached = False
        return self._decision(system_prompt, user_text, body, data, latency_ms, error, reached=reached)

    def _decision(
        self,
        system_prompt: str,
        user_text: str,
        body: dict[str, Any],
        data: dict[str, Any],
        latency_ms: int,
        error: str | None,
        *,
        reached: bool = True,
    ) -> PolicyDecision:
        choices = data.get("choices")
        first: dict[str, Any] = {}
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            first = choices[0]
        message = first.get("message")
        # No assistant message at all (an empty choices list, a choice holding only an error): the
        # decision never got an answer from the model, whatever the HTTP status said.
        reached = reached and (error is not None or isinstance(message, dict))
        message = message if isinstance(message, dict) else {}
        tool_calls = message.get("tool_calls")
        tool_calls = tool_calls if isinstance(tool_calls, list) else []
        content = message.get("content")
        content = content if isinstance(content, str) else ""
        if error is not None:
            err = data.get("error")
            failed = err.get("failed_generation") if isinstance(err, dict) else None
            content = failed if isinstance(failed, str) else content
            problem: str | None = error
            actions: list[str] = []
        elif not isinstance(choices, list) or not choices:
            actions, problem = [], "response has no choices"
        else:
            actions, problem = actions_from_tool_calls(tool_calls)
        tool_call_ok = bool(actions)
        if not actions:
            fallback = actions_from_text(content)
            if fallback:
                actions = fallback
                problem = f"{problem or 'no tool call'}; {len(fallback)} action(s) read from the text"
            else:
                actions = ["noop"]
                problem = problem or "no usable tool call"
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        raw_params = {k: v for k, v in body.items() if k != "messages"}
        request_params: dict[str, Any] = {"temperature": body["temperature"], "max_tokens": body["max_tokens"]}
        if "top_p" in body:
            request_params["top_p"] = body["top_p"]
        request_params["raw_params"] = raw_params
        record = call_record_from_chat(
            model_name=self.model_name,
            provider=self.provider,
            system_prompt=system_prompt,
            user_text=user_text,
            response=data,
            latency_ms=latency_ms,
            request_params=request_params,
            error=error,
        )
        return PolicyDecision(
            actions=actions,
            tool_call_ok=tool_call_ok,
            reached_model=reached,
            problem=self._redact(problem) if problem else None,
            call_record=record,
            model_name=self.model_name,
            provider=self.provider,
            input_tokens=_int_or_none(usage.get("prompt_tokens")),
            output_tokens=_int_or_none(usage.get("completion_tokens")),
            total_tokens=_int_or_none(usage.get("total_tokens")),
            latency_ms=latency_ms,
        )

    async def preflight(self) -> None:
        """One cheap real call; raise PolicyError with a user-facing message if decisions can't work.

        ``GET /v1/models``: unreachable → "Cannot reach …"; 401/403 → key rejected (naming the
        variable); model missing from the list → "not served …; available: …". Servers without
        ``/v1/models`` (404/405, or a non-JSON answer) get one tiny chat completion instead.
        """
        response = await self._preflight_request("GET", MODELS_PATH, None)
        if response.status_code in (401, 403):
            raise self._fatal_status(response)
        if response.status_code == 200:
            ids = self._model_ids(response)
            if ids is not None:
                if self.model_name in ids:
                    return
                shown = ", ".join(ids[:30]) + (f", … ({len(ids) - 30} more)" if len(ids) > 30 else "")
                msg = f"Model {self.shown_model!r} is not served by {self.shown_url}; available: {shown or '(none)'}"
                raise PolicyError(self._redact(msg))
        # No usable model list: one tiny completion, judged the same way.
        ping = {"model": self.model_name, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
        response = await self._preflight_request("POST", CHAT_PATH, ping)
        if response.status_code >= 300:
            if response.status_code == 400 and _looks_like_unknown_model(response):
                raise PolicyError(
                    self._redact(
                        f"Model {self.shown_model!r} is not served by {self.shown_url}: {_error_message(response)}"
                    )
                )
            raise self._fatal_status(response)

    async def _preflight_request(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        """Unreachable → PolicyError at once; 429/5xx retried like decisions; other statuses returned."""
        last: _Failure | None = None
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._send(method, path, body)
            except _Failure as failure:
                raise PolicyError(self._redact(self._unreachable(failure))) from None
            status = response.status_code
            if not (status in RETRY_STATUSES or status >= 500):
                return response
            last = _Failure(f"HTTP {status}: {_error_message(response)}", retryable=True, response=response)
            if attempt < self.max_retries:
                delay = self._backoff(attempt, response)
                self._announce_retry(
                    self._redact(
                        f"Inference server at {self.shown_url} answered {last.text} on {method} {path}; "
                        f"retry {attempt + 1}/{self.max_retries} in {delay:.1f}s"
                    )
                )
                await asyncio.sleep(delay)
        assert last is not None
        raise PolicyError(
            self._redact(f"Inference server at {self.shown_url} keeps failing on {method} {path}: {last.text}")
        )

    def _unreachable(self, failure: _Failure) -> str:
        if failure.connected:
            return (
                f"Inference server at {self.shown_url} accepted the connection but did not answer within "
                f"{self.timeout_s:g} s; is it overloaded or stuck? ({failure.text})"
            )
        return f"Cannot reach inference server at {self.shown_url}: {failure.text}"

    @staticmethod
    def _model_ids(response: httpx.Response) -> list[str] | None:
        try:
            data = response.json()
        except ValueError:
            return None
        items = data.get("data") if isinstance(data, dict) else data
        if not isinstance(items, list):
            return None
        ids = [str(m["id"]) for m in items if isinstance(m, dict) and m.get("id") is not None]
        return ids if ids or not items else None

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> OpenAIChatPolicy:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _not_a_completion(response: httpx.Response) -> str | None:
    """Why a 2xx answer to a chat call is not a chat completion, or None when it is one."""
    if not response.request.url.path.endswith(CHAT_PATH):
        return None
    try:
        data = response.json()
    except ValueError:
        start = " ".join(response.text[:80].split())
        return f"the body is not JSON ({response.headers.get('content-type', 'no content type')}: {start!r})"
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        keys = ", ".join(list(data)[:8]) if isinstance(data, dict) else type(data).__name__
        return f"the JSON is not a chat completion (no choices; got {keys or 'nothing'})"
    return None


def _looks_like_unknown_model(response: httpx.Response) -> bool:
    text = response.text.lower()
    return "model_not_found" in text or ("model" in text and ("does not exist" in text or "not found" in text))
