"""Keeping API keys out of messages, logs and reprs.

Every user-facing string that may have seen a key (server error bodies, exception texts) goes
through :func:`redact`; wherever we need to say *which* key was used we show :func:`mask_secret`;
every URL shown goes through :func:`mask_url` (a key may sit in its query or userinfo).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, unquote_plus, urlsplit, urlunsplit

#: Keys shorter than this are masked completely: a prefix and suffix would give most of them away.
_MIN_PARTIAL = 12


def mask_secret(value: str | None) -> str:
    """A recognisable but useless form of a secret: ``sk-ab…89``, ``****`` when short or empty."""
    if not value:
        return "****"
    if len(value) < _MIN_PARTIAL:
        return "****"
    return f"{value[:5]}…{value[-2:]}"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret replaced by its masked form.

    Longer secrets are replaced first, so a key that contains another one is not half-masked.
    Empty values and values under 4 characters are ignored (they would mangle ordinary text).
    """
    values = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
    for value in values:
        text = text.replace(value, mask_secret(value))
    return text


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be credentials: userinfo (name and password), every query and
    fragment value. Passed to :func:`redact` so an error text quoting the URL (httpx does) is masked."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return []
    found: list[str] = []
    userinfo, at, _host = parts.netloc.rpartition("@")
    if at:
        name, _colon, password = userinfo.partition(":")
        found += [name, password, unquote(name), unquote(password)]
    for piece in (parts.query, parts.fragment):
        for pair in piece.split("&"):
            _key, eq, value = pair.partition("=")
            if eq:
                found += [value, unquote_plus(value)]
    return [s for s in dict.fromkeys(found) if s]


def mask_url(url: str) -> str:
    """``url`` as it may be shown: userinfo and every query/fragment value masked, the rest kept.

    ``https://user:sk-live-…@host/v1?api_key=sk-…&x=1`` → ``https://****:sk-li…ab@host/v1?api_key=sk-li…ab&x=****``.
    Every query value is masked, not only those under "key"-like names: a key may hide under any name.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url, url_secrets(url))
    netloc = parts.netloc
    userinfo, at, host = netloc.rpartition("@")
    if at:
        name, colon, password = userinfo.partition(":")
        netloc = f"{mask_secret(name)}{colon}{mask_secret(password) if colon else ''}@{host}"

    def masked(piece: str) -> str:
        out = []
        for pair in piece.split("&"):
            key, eq, value = pair.partition("=")
            out.append(f"{key}={mask_secret(value) if value else ''}" if eq else pair)
        return "&".join(out)

    fragment = masked(parts.fragment) if "=" in parts.fragment else parts.fragment
    return urlunsplit((parts.scheme, netloc, parts.path, masked(parts.query), fragment))
