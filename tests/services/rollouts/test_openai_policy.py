"""The OpenAI-compatible HTTP policy, against a loopback fake server (no network)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import pytest

from services.common.secrets import mask_secret, redact
from services.crafter.prompt import INTERACT_MANY_TOOL, SYSTEM_PROMPT
from services.rollouts.openai_policy import (
    MAX_RETRY_AFTER_S,
    OpenAIChatPolicy,
    actions_from_text,
    api_key_for_url,
    api_key_source,
    normalise_base_url,
    provider_for_url,
    retry_after_seconds,
)
from services.rollouts.policy import Policy, PolicyError
from tests.support.fake_inference import FakeInferenceServer

KEY = "sk-test-0123456789abcdefSECRET"
USER = "=== CRAFTER GAME STATE ===\nStep: 1/100\n\nChoose your next actions."
NAMED_CHOICE = {"type": "function", "function": {"name": "interact_many"}}


@contextmanager
def fake(**kwargs: Any) -> Iterator[FakeInferenceServer]:
    with FakeInferenceServer(**kwargs) as srv:
        yield srv


@asynccontextmanager
async def policy_for(srv: FakeInferenceServer, **kwargs: Any) -> AsyncIterator[OpenAIChatPolicy]:
    kwargs.setdefault("model", "fake-model")
    kwargs.setdefault("api_key", "")
    kwargs.setdefault("backoff_s", 0.001)
    kwargs.setdefault("max_retries", 2)
    kwargs.setdefault("timeout_s", 5.0)
    async with OpenAIChatPolicy(inference_url=srv.base_url, **kwargs) as policy:
        yield policy


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- URLs, providers, keys, masking ----


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://api.groq.com/openai", "https://api.groq.com/openai"),
        ("https://api.groq.com/openai/", "https://api.groq.com/openai"),
        ("https://api.groq.com/openai/v1/chat/completions", "https://api.groq.com/openai"),
        ("https://api.groq.com/openai/v1/chat/completions/", "https://api.groq.com/openai"),
        ("https://api.openai.com/v1", "https://api.openai.com"),
        ("https://api.openai.com/v1/", "https://api.openai.com"),
        ("http://host:8000", "http://host:8000"),
        ("  http://localhost:8001/proxy/groq/v1  ", "http://localhost:8001/proxy/groq"),
        ("HTTP://LOCALHOST:8000/V1/CHAT/COMPLETIONS", "HTTP://LOCALHOST:8000"),
    ],
)
def test_normalise_base_url(url: str, base: str) -> None:
    assert normalise_base_url(url) == base


@pytest.mark.parametrize("url", ["ftp://host/v1", "api.groq.com/openai", "", "http://", "file:///tmp/x", "ws://h:1"])
def test_normalise_base_url_rejects_non_http(url: str) -> None:
    with pytest.raises(ValueError, match="http"):
        normalise_base_url(url)


def test_provider_for_url() -> None:
    assert provider_for_url("https://api.groq.com/openai") == "groq"
    assert provider_for_url("https://api.openai.com") == "openai"
    assert provider_for_url("http://localhost:8001/proxy/groq") == "custom"
    assert provider_for_url("https://notopenai.com.evil.io") == "custom"
    assert provider_for_url("http://10.0.0.5:8000") == "custom"


def test_api_key_selection_from_env() -> None:
    env = {"OPENAI_API_KEY": "o", "GROQ_API_KEY": "g", "SYNTH_API_KEY": "s"}
    assert api_key_for_url("https://api.openai.com", env) == "o"
    assert api_key_for_url("https://api.groq.com/openai", env) == "g"
    assert api_key_for_url("http://vllm:8000", env) == "s"
    assert api_key_for_url("http://vllm:8000", {"OPENAI_API_KEY": "o"}) == "o"
    assert api_key_for_url("https://api.groq.com/openai", {"OPENAI_API_KEY": "o"}) is None
    assert api_key_for_url("http://vllm:8000", {}) is None
    override = {**env, "SFT_STUDIO_INFERENCE_API_KEY": "x"}
    for url in ("https://api.openai.com", "https://api.groq.com/openai", "http://vllm:8000"):
        assert api_key_source(url, override) == ("x", "SFT_STUDIO_INFERENCE_API_KEY")
    assert api_key_source("https://api.groq.com/openai", env) == ("g", "GROQ_API_KEY")


def test_mask_and_redact() -> None:
    assert mask_secret(KEY) == "sk-te…ET"
    assert mask_secret("short") == "****"
    assert mask_secret(None) == "****"
    text = redact(f"bad key {KEY} (again {KEY})", [KEY, None, ""])
    assert KEY not in text and text.count("sk-te…ET") == 2


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("2") == 2.0
    assert retry_after_seconds("1000") == MAX_RETRY_AFTER_S
    assert retry_after_seconds("-3") == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0


def test_repr_never_shows_key() -> None:
    policy = OpenAIChatPolicy(model="m", inference_url="http://127.0.0.1:9", api_key=KEY)
    assert KEY not in repr(policy) and KEY not in str(policy)
    assert "sk-te…ET" in repr(policy)
    assert KEY not in repr(vars(policy))
    assert isinstance(policy, Policy)
    asyncio.run(policy.aclose())


# ---- request body ----


def test_request_body_per_provider() -> None:
    def body(url: str, **kw: Any) -> dict[str, Any]:
        policy = OpenAIChatPolicy(model="m", inference_url=url, api_key="", **kw)
        try:
            return policy.request_body("sys", "usr")
        finally:
            asyncio.run(policy.aclose())

    openai = body("https://api.openai.com/v1", thinking=False, top_p=0.9)
    assert openai["tool_choice"] == "required"
    assert "parallel_tool_calls" not in openai and "chat_template_kwargs" not in openai
    assert openai["messages"] == [{"role": "system", "content": "sys"}, {"role": "user", "content": "usr"}]
    assert openai["tools"] == [INTERACT_MANY_TOOL]
    assert openai["top_p"] == 0.9 and openai["temperature"] == 0.2 and openai["max_tokens"] == 512

    groq = body("https://api.groq.com/openai", thinking=True)
    assert groq["tool_choice"] == NAMED_CHOICE and groq["parallel_tool_calls"] is False
    assert "chat_template_kwargs" not in groq and "top_p" not in groq

    vllm = body("http://vllm:8000", thinking=False)
    assert vllm["tool_choice"] == NAMED_CHOICE and vllm["parallel_tool_calls"] is False
    assert vllm["chat_template_kwargs"] == {"enable_thinking": False}
    assert "chat_template_kwargs" not in body("http://vllm:8000")


async def test_openai_request_over_injected_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        call = {
            "id": "c1",
            "type": "function",
            "function": {"name": "interact_many", "arguments": '{"actions":["do"]}'},
        }
        message = {"role": "assistant", "content": "", "tool_calls": [call]}
        return httpx.Response(200, json={"choices": [{"index": 0, "message": message}], "usage": {"total_tokens": 9}})

    async with OpenAIChatPolicy(
        model="gpt-4o-mini",
        inference_url="https://api.openai.com/v1/chat/completions",
        api_key=KEY,
        thinking=True,
        transport=httpx.MockTransport(handler),
    ) as policy:
        decision = await policy.decide("s", "u")
    assert str(seen[0].url) == "https://api.openai.com/v1/chat/completions"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    sent = json.loads(seen[0].content)
    assert sent["tool_choice"] == "required" and "chat_template_kwargs" not in sent
    assert decision.actions == ["do"] and decision.provider == "openai"
    assert (decision.input_tokens, decision.total_tokens) == (None, 9)


# ---- decisions ----


async def test_good_tool_call_gives_actions_and_call_record() -> None:
    with fake(api_key=KEY) as srv:
        async with policy_for(srv, api_key=KEY, temperature=0.1, max_tokens=300) as policy:
            decision = await policy.decide(SYSTEM_PROMPT, USER)
        sent = srv.chat_bodies[0]
        auth = srv.requests[0].headers.get("Authorization")
    assert decision.actions == ["move_left", "do"]
    assert decision.tool_call_ok and decision.problem is None
    assert (decision.input_tokens, decision.output_tokens, decision.total_tokens) == (120, 15, 135)
    assert decision.model_name == "fake-model" and decision.provider == "custom"
    assert auth == f"Bearer {KEY}"
    assert sent["tools"] == [INTERACT_MANY_TOOL] and sent["tool_choice"] == NAMED_CHOICE
    assert sent["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert sent["messages"][1] == {"role": "user", "content": USER}
    record = decision.call_record
    assert record["model_name"] == "fake-model" and record["provider"] == "custom"
    assert record["outcome"] == "success" and record["error"] is None
    calls = record["output_tool_calls"]
    assert len(calls) == 1 and calls[0]["name"] == "interact_many"
    assert json.loads(calls[0]["arguments_json"]) == {"actions": ["move_left", "do"]}
    # Empty assistant content: output_text is the raw response JSON, as the task app stores it.
    assert json.loads(record["output_text"])["choices"][0]["message"]["tool_calls"]
    assert record["request_params"]["temperature"] == 0.1 and record["request_params"]["max_tokens"] == 300
    raw = record["request_params"]["raw_params"]
    assert "messages" not in raw and raw["model"] == "fake-model" and raw["tool_choice"] == NAMED_CHOICE
    assert record["input_messages"][0]["parts"][0]["text"] == SYSTEM_PROMPT
    assert KEY not in json.dumps(record)
    assert decision.latency_ms >= 0 and record["latency_ms"] == decision.latency_ms


async def test_no_tool_call_is_noop_not_fatal() -> None:
    with fake(mode="no_tool", text="Hmm, I am thinking about the world.") as srv:
        async with policy_for(srv) as policy:
            decisions = [await policy.decide("s", "u") for _ in range(3)]
    for d in decisions:
        assert d.actions == ["noop"] and not d.tool_call_ok
        assert d.problem and "no tool call" in d.problem
        assert d.call_record["output_text"] == "Hmm, I am thinking about the world."


async def test_no_tool_call_lenient_text_fallback() -> None:
    text = 'I will go left then hit the tree.\n```json\n{"actions": ["move_left", "do"]}\n```'
    with fake(mode="no_tool", text=text) as srv:
        async with policy_for(srv) as policy:
            decision = await policy.decide("s", "u")
    assert decision.actions == ["move_left", "do"]
    assert not decision.tool_call_ok and decision.problem and "read from the text" in decision.problem


async def test_garbage_arguments_is_noop() -> None:
    with fake(mode="garbage_tool") as srv:
        async with policy_for(srv) as policy:
            decision = await policy.decide("s", "u")
    assert decision.actions == ["noop"] and not decision.tool_call_ok
    assert decision.problem and "not JSON" in decision.problem
    assert decision.call_record["output_tool_calls"][0]["arguments_json"].startswith("{actions")


async def test_groq_tool_use_failed_is_a_bad_answer_not_fatal() -> None:
    with fake(mode="tool_use_failed", text='<function=interact_many>{"actions": ["move_up"]}</function>') as srv:
        async with policy_for(srv) as policy:
            decision = await policy.decide("s", "u")
        assert srv.chat_count == 1  # not retried
    assert decision.actions == ["move_up"] and not decision.tool_call_ok
    assert decision.call_record["outcome"] == "error" and "tool_use_failed" in decision.call_record["error"]


@pytest.mark.parametrize(
    ("text", "actions"),
    [
        ('<tool_call>{"name": "interact_many", "arguments": {"actions": ["move_right", "do"]}}</tool_call>',
         ["move_right", "do"]),
        ("Actions: [move_left, 'do', \"sleep\"]", ["move_left", "do", "sleep"]),
        ("My plan:\n- move_up\n- Up\n2. do\n", ["move_up", "move_up", "do"]),
        ("<think>maybe place_table</think>I'll do move_down and then make_wood_pickaxe.",
         ["move_down", "make_wood_pickaxe"]),
        ("I do not know what to do.", []),
        ("", []),
    ],
)  # fmt: skip
def test_actions_from_text(text: str, actions: list[str]) -> None:
    assert actions_from_text(text) == actions


async def test_429_then_success_is_retried() -> None:
    with fake(mode="flaky", flaky_failures=2, flaky_status=429, retry_after="0") as srv:
        async with policy_for(srv, max_retries=3) as policy:
            decision = await policy.decide("s", "u")
        assert srv.chat_count == 3
    assert decision.actions == ["move_left", "do"] and decision.tool_call_ok


async def test_500_then_success_is_retried() -> None:
    with fake(mode="flaky", flaky_failures=1, flaky_status=500) as srv:
        async with policy_for(srv) as policy:
            decision = await policy.decide("s", "u")
        assert srv.chat_count == 2
    assert decision.tool_call_ok


async def test_always_500_raises_after_max_retries_without_key() -> None:
    with fake(mode="always_500") as srv:
        async with policy_for(srv, api_key=KEY, max_retries=2) as policy:
            with pytest.raises(PolicyError) as info:
                await policy.decide("s", "u")
        assert srv.chat_count == 3
    message = str(info.value)
    assert "HTTP 500" in message and srv.base_url in message and "3 attempts" in message
    assert KEY not in message


async def test_unreachable_during_decide_raises_policy_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with OpenAIChatPolicy(model="m", inference_url=url, api_key=KEY, max_retries=1, backoff_s=0.001) as policy:
        with pytest.raises(PolicyError) as info:
            await policy.decide("s", "u")
    assert url in str(info.value) and KEY not in str(info.value)


async def test_401_during_decide_is_not_retried() -> None:
    with fake(api_key="right-key-123456") as srv:
        async with policy_for(srv, api_key=KEY) as policy:
            with pytest.raises(PolicyError, match="rejected the API key"):
                await policy.decide("s", "u")
        assert srv.request_count == 1


# ---- preflight ----


async def test_preflight_ok() -> None:
    with fake(api_key=KEY, models=["a", "fake-model"]) as srv:
        async with policy_for(srv, api_key=KEY) as policy:
            await policy.preflight()
        assert srv.models_count == 1 and srv.chat_count == 0


async def test_preflight_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with OpenAIChatPolicy(model="m", inference_url=url, api_key=KEY) as policy:
        started = time.perf_counter()
        with pytest.raises(PolicyError, match="Cannot reach inference server at") as info:
            await policy.preflight()
        assert time.perf_counter() - started < 2.0  # no retry loop on connection refused
    assert url in str(info.value) and KEY not in str(info.value)


async def test_preflight_401_names_env_var_and_masks_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SFT_STUDIO_INFERENCE_API_KEY", raising=False)
    monkeypatch.setenv("SYNTH_API_KEY", KEY)
    with fake(api_key="the-right-key-0000") as srv:
        async with policy_for(srv, api_key=None) as policy:
            assert policy.api_key_source == "SYNTH_API_KEY"
            with pytest.raises(PolicyError) as info:
                await policy.preflight()
            assert KEY not in repr(policy)
        assert srv.request_count == 1  # 401 is not retried
    message = str(info.value)
    assert "HTTP 401" in message and "SYNTH_API_KEY" in message and "SFT_STUDIO_INFERENCE_API_KEY" in message
    assert mask_secret(KEY) in message and KEY not in message


async def test_preflight_401_without_key_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SFT_STUDIO_INFERENCE_API_KEY", "SYNTH_API_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with fake(api_key="the-right-key-0000") as srv:
        async with policy_for(srv, api_key=None) as policy:
            with pytest.raises(PolicyError, match="No API key was set"):
                await policy.preflight()


async def test_preflight_unknown_model_lists_available() -> None:
    with fake(models=["a", "b", "c"]) as srv:
        async with policy_for(srv, model="x") as policy:
            with pytest.raises(PolicyError) as info:
                await policy.preflight()
    assert str(info.value) == f"Model 'x' is not served by {srv.base_url}; available: a, b, c"


async def test_preflight_without_models_endpoint_falls_back_to_chat() -> None:
    with fake(models_endpoint=False) as srv:
        async with policy_for(srv) as policy:
            await policy.preflight()
        assert srv.models_count == 1 and srv.chat_count == 1
        assert srv.chat_bodies[0]["max_tokens"] == 1


async def test_preflight_fallback_unknown_model() -> None:
    with fake(models_endpoint=False, models=["a"]) as srv:
        async with policy_for(srv, model="x") as policy:
            with pytest.raises(PolicyError, match="Model 'x' is not served by"):
                await policy.preflight()


async def test_preflight_retries_transient_5xx() -> None:
    with fake(mode="flaky", flaky_failures=1, flaky_status=503, models_endpoint=False) as srv:
        async with policy_for(srv) as policy:
            await policy.preflight()
        assert srv.chat_count == 2


# ---- concurrency ----


async def test_concurrent_decides_overlap() -> None:
    with fake(delay_ms=200) as srv:
        async with policy_for(srv) as policy:
            await policy.decide("s", "warm-up")
            started = time.perf_counter()
            decisions = await asyncio.gather(*(policy.decide("s", f"u{i}") for i in range(8)))
            elapsed = time.perf_counter() - started
        assert srv.max_in_flight >= 8
    assert all(d.actions == ["move_left", "do"] for d in decisions)
    assert elapsed < 0.8, f"8 concurrent 200 ms decisions took {elapsed:.2f}s"
