"""Where an OpenAI-compatible server lives and how to authenticate: URL, provider, key, Retry-After.

Kept apart from the policy so the CLI, the TUI form and later the eval launcher can normalise URLs
and name the key variable without an HTTP client.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Mapping
from urllib.parse import urlsplit

from services.common.echo import cap_echo
from services.common.secrets import mask_url

#: Overrides every per-provider key variable.
OVERRIDE_KEY_ENV = "SFT_STUDIO_INFERENCE_API_KEY"
#: The longest we wait on one ``Retry-After`` header, and on one computed backoff.
MAX_RETRY_AFTER_S = 30.0
MAX_BACKOFF_S = 20.0
#: Statuses worth retrying (rate limits, timeouts, server errors); 5xx in general too.
RETRY_STATUSES = frozenset({408, 425, 429})
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"


# --------------------------------------------------------------------------------------------
# URLs, providers, keys


def normalise_base_url(url: str) -> str:
    """The base URL to which ``/v1/chat/completions`` is appended.

    Strips whitespace, trailing slashes and a trailing ``/v1/chat/completions`` or ``/v1``, so the
    base (``https://api.groq.com/openai``) and the full URL (``…/openai/v1/chat/completions``)
    both work. Raises ValueError for anything but an http(s) URL with a host.
    """
    text = (url or "").strip()
    shown = cap_echo(mask_url(text))  # a key may sit in the query or userinfo; a value may be huge
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # e.g. an unclosed [IPv6 bracket
        raise ValueError(f"Inference URL {shown!r} cannot be read: {exc}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"Inference URL must be an http:// or https:// URL with a host, got {shown!r} "
            "(e.g. https://api.groq.com/openai or http://localhost:8000)"
        )
    if parts.query or parts.fragment:
        raise ValueError(
            f"Inference URL must not carry a query or fragment: {shown!r} "
            "(API keys go in an environment variable, never in the URL)"
        )
    base = text.rstrip("/")
    for suffix in ("/v1/chat/completions", "/v1"):
        if base.lower().endswith(suffix):
            base = base[: -len(suffix)].rstrip("/")
            break
    return base


def _host(url: str) -> str:
    return (urlsplit(url.strip()).hostname or "").lower()


def _host_is(url: str, domain: str) -> bool:
    host = _host(url)
    return host == domain or host.endswith("." + domain)


def provider_for_url(url: str) -> str:
    """``groq`` for groq.com, ``openai`` for openai.com, else ``custom`` (vLLM, proxies, ...)."""
    if _host_is(url, "groq.com"):
        return "groq"
    if _host_is(url, "openai.com"):
        return "openai"
    return "custom"


def api_key_env_names(url: str) -> list[str]:
    """The environment variables consulted for ``url``'s key, first match wins."""
    provider = provider_for_url(url)
    if provider == "openai":
        names = ["OPENAI_API_KEY"]
    elif provider == "groq":
        names = ["GROQ_API_KEY"]
    else:
        names = ["SYNTH_API_KEY", "OPENAI_API_KEY"]
    return [OVERRIDE_KEY_ENV, *names]


def api_key_source(url: str, env: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """(key, name of the variable it came from) for ``url``; (None, None) when none is set."""
    env = os.environ if env is None else env
    for name in api_key_env_names(url):
        value = (env.get(name) or "").strip()
        if value:
            return value, name
    return None, None


def api_key_for_url(url: str, env: Mapping[str, str] | None = None) -> str | None:
    """The API key for ``url`` from the environment (``env`` defaults to ``os.environ``).

    ``openai.com`` → OPENAI_API_KEY, ``groq.com`` → GROQ_API_KEY, anything else → SYNTH_API_KEY
    then OPENAI_API_KEY; SFT_STUDIO_INFERENCE_API_KEY overrides all of them.
    """
    return api_key_source(url, env)[0]


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
