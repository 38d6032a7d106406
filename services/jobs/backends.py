"""Which backend a command talks to, with which key, and where each came from.

``resolve_backend`` follows synth-ai's precedence (§5, §13) without its defects (§14 defect 10):
``--backend`` > process environment > ``--env-file`` > the CWD's ``.env``, for both
``BACKEND_BASE_URL`` and ``SYNTH_API_KEY``; ``BACKEND_BASE_URL`` *is* read from ``--env-file``; and
no file is ever written. ``local`` means the embedded backend of issue 12 (started on demand by
:func:`open_client`, its key read from the data dir). The key never leaves :class:`BackendChoice`
unmasked: ``repr``, ``label()`` and ``describe()`` show ``masked_key`` only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from services.common.secrets import mask_secret, mask_url
from services.jobs.client import LearningClient, Timeouts, normalise_base_url
from services.jobs.errors import BackendAuthError, BackendError, BackendUnreachable, EnvFileError

BackendKind = Literal["local", "synth", "url"]

#: §5: the 0.2.x default when nothing names a backend.
DEFAULT_SYNTH_BASE = "https://agent-learning.onrender.com/api"
OVERRIDE_TARGETS = {
    "local": ("LOCAL_BACKEND_URL", "http://localhost:8000"),
    "dev": ("DEV_BACKEND_URL", ""),
    "prod": ("PROD_BACKEND_URL", "https://agent-learning.onrender.com"),
}
KEY_VAR = "SYNTH_API_KEY"
URL_VAR = "BACKEND_BASE_URL"


@dataclass
class BackendChoice:
    """A resolved backend. ``base_url`` is empty for ``local`` until :func:`open_client` starts it."""

    kind: BackendKind
    base_url: str
    api_key: str | None = field(default=None, repr=False)
    key_source: str = ""
    url_source: str = ""
    data_dir: Path | None = None

    @property
    def masked_key(self) -> str:
        return mask_secret(self.api_key) if self.api_key else "(none)"

    @property
    def store_label(self) -> str:
        """What the job store records as the backend (never the key)."""
        return "local" if self.kind == "local" else mask_url(self.base_url)

    def label(self) -> str:
        """One line for a header: ``local backend http://127.0.0.1:8765/api (key sk-lo…ab, local backend key)``."""
        if self.kind == "local":
            if not self.base_url:
                return "local backend (not started yet: started on demand; its key is read from its data dir)"
            return f"local backend {mask_url(self.base_url)} (key {self.masked_key}, {self.key_source})"
        name = "Synth backend" if self.kind == "synth" else "backend"
        return f"{name} {mask_url(self.base_url)} ({self.url_source}; key {self.masked_key}, {self.key_source})"

    def __repr__(self) -> str:
        return f"BackendChoice(kind={self.kind!r}, base_url={mask_url(self.base_url)!r}, key={self.masked_key!r})"


def parse_env_text(text: str) -> dict[str, str]:
    """``KEY=VALUE`` lines (optional ``export``, matching quotes stripped, ``#`` comments), as synth-ai
    parses an env file (§13)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].strip()
        name, eq, value = line.partition("=")
        name = name.strip()
        if not eq or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        values[name] = value
    return values


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of ``--env-file``; :class:`EnvFileError` when it is missing or unreadable."""
    shown = str(path)
    if not path.exists():
        raise EnvFileError(f"--env-file {shown} does not exist", "Pass the path of an existing .env file.")
    if path.is_dir():
        raise EnvFileError(f"--env-file {shown} is a folder, not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise EnvFileError(f"--env-file {shown} is not readable (permission denied)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EnvFileError(f"--env-file {shown} cannot be read: {exc}") from None
    return parse_env_text(text)


def _cwd_env(cwd: Path) -> dict[str, str]:
    path = cwd / ".env"
    try:
        return parse_env_text(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, UnicodeDecodeError):
        return {}  # the CWD .env is implicit: unreadable means "not there", as for synth-ai


def _shown_path(path: Path, cwd: Path) -> str:
    try:
        return f"./{path.resolve().relative_to(cwd.resolve())}"
    except ValueError:
        return str(path)


def resolve_backend(
    backend: str | None,
    *,
    env_file: Path | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    data_dir: Path | None = None,
) -> BackendChoice:
    """The backend named by ``backend`` (``local``, ``synth``, a URL or None), its key and their
    sources. Reads files, writes none; starts nothing."""
    env = os.environ if environ is None else environ
    here = cwd or Path.cwd()
    file_vars: dict[str, str] = read_env_file(env_file) if env_file is not None else {}
    file_name = _shown_path(env_file, here) if env_file is not None else ""
    cwd_vars = _cwd_env(here)
    layers: list[tuple[str, Mapping[str, str]]] = [
        ("the environment", env),
        (f"--env-file {file_name}", file_vars),
        ("./.env", cwd_vars),
    ]

    def lookup(name: str) -> tuple[str, str] | None:
        for where, values in layers:
            value = values.get(name, "").strip()
            if value:
                return value, where
        return None

    choice_word = (backend or "").strip()
    if choice_word.lower() == "local":
        return BackendChoice(kind="local", base_url="", key_source="", url_source="--backend local", data_dir=data_dir)
    if choice_word and choice_word.lower() != "synth":
        try:
            base = normalise_base_url(choice_word)
        except ValueError as exc:
            raise BackendError(
                f"--backend {mask_url(choice_word)}: {exc}", "Pass `local`, `synth` or an http(s) URL."
            ) from None
        kind: BackendKind = "url"
        url_source = "--backend"
    else:
        kind = "synth"
        found = lookup(URL_VAR)
        if found is not None:
            raw, where = found
            url_source = f"{URL_VAR} from {where}"
        else:
            raw, url_source = "", ""
            for name in ("BACKEND_OVERRIDE",):
                value = env.get(name, "").strip()
                if value:
                    raw, url_source = value, f"{name} from the environment"
            override = env.get("SYNTH_BACKEND_URL_OVERRIDE", "").strip().lower()
            if not raw and override in OVERRIDE_TARGETS:
                var, default = OVERRIDE_TARGETS[override]
                raw = env.get(var, "").strip() or default
                url_source = f"SYNTH_BACKEND_URL_OVERRIDE={override}"
            if not raw:
                raw, url_source = DEFAULT_SYNTH_BASE, "synth-ai 0.2.23's default"
        try:
            base = normalise_base_url(raw)
        except ValueError as exc:
            raise BackendError(f"{url_source}: {exc}") from None
    key = lookup(KEY_VAR)
    return BackendChoice(
        kind=kind,
        base_url=base,
        api_key=key[0] if key else None,
        key_source=f"{KEY_VAR} from {key[1]}" if key else f"no {KEY_VAR} found",
        url_source=url_source,
    )


def open_client(
    choice: BackendChoice,
    *,
    timeouts: Timeouts | None = None,
    retries: int = 3,
    start_timeout: float = 60.0,
) -> LearningClient:
    """A client for ``choice``; for ``local`` the embedded backend is started when none runs and
    ``choice.base_url``/``api_key``/``key_source`` are filled in. Raises :class:`BackendError`."""
    if choice.kind == "local":
        from services.common.data_dir import data_dir as default_data_dir
        from services.training.server.auth import KEY_ENV, key_path
        from services.training.server.lifecycle import BackendError as LifecycleError
        from services.training.server.lifecycle import ensure_local_backend
        from services.training.server.settings import backend_dir

        folder = choice.data_dir or default_data_dir()
        try:
            url, key = ensure_local_backend(folder, timeout=start_timeout)
        except LifecycleError as exc:
            raise BackendUnreachable(
                f"the local backend could not be started: {exc}", "See `sft-studio backend status`."
            ) from None
        choice.base_url = normalise_base_url(url)
        choice.api_key = key
        choice.data_dir = folder
        choice.key_source = (
            f"{KEY_ENV} from the environment"
            if os.environ.get(KEY_ENV, "").strip()
            else f"local backend key ({key_path(backend_dir(folder))})"
        )
        return LearningClient(choice.base_url, key, timeouts=timeouts, retries=retries)
    if not choice.api_key:
        raise BackendAuthError(
            f"no {KEY_VAR} for {mask_url(choice.base_url)}",
            f"Set {KEY_VAR} in the environment, in ./.env, or pass --env-file FILE (or use --backend local).",
        )
    return LearningClient(choice.base_url, choice.api_key, timeouts=timeouts, retries=retries)
