"""Which backend and key: flags > process env > --env-file > ./.env; nothing written; keys masked."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.jobs.backends import DEFAULT_SYNTH_BASE, open_client, parse_env_text, resolve_backend
from services.jobs.errors import BackendAuthError, BackendError, EnvFileError

KEY_ENV = "sk-from-environment-000000001"
KEY_FILE = "sk-from-env-file-0000000002"
KEY_CWD = "sk-from-cwd-dotenv-000000003"


def _files(tmp_path: Path) -> tuple[Path, Path]:
    env_file = tmp_path / "secrets.env"
    env_file.write_text(f'export SYNTH_API_KEY="{KEY_FILE}"\nBACKEND_BASE_URL=http://file-host:1\n', encoding="utf-8")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / ".env").write_text(f"SYNTH_API_KEY={KEY_CWD}\nBACKEND_BASE_URL=http://cwd-host:2/api\n", encoding="utf-8")
    return env_file, cwd


def test_precedence(tmp_path: Path) -> None:
    env_file, cwd = _files(tmp_path)
    env = {"SYNTH_API_KEY": KEY_ENV, "BACKEND_BASE_URL": "http://env-host:3"}
    choice = resolve_backend("http://flag-host:4", env_file=env_file, cwd=cwd, environ=env)
    assert (choice.kind, choice.base_url, choice.api_key) == ("url", "http://flag-host:4/api", KEY_ENV)
    assert choice.key_source == "SYNTH_API_KEY from the environment"
    choice = resolve_backend(None, env_file=env_file, cwd=cwd, environ=env)
    assert choice.base_url == "http://env-host:3/api"
    choice = resolve_backend(None, env_file=env_file, cwd=cwd, environ={})
    assert (choice.base_url, choice.api_key) == ("http://file-host:1/api", KEY_FILE)
    assert choice.key_source.startswith("SYNTH_API_KEY from --env-file")
    choice = resolve_backend(None, cwd=cwd, environ={})
    assert (choice.base_url, choice.api_key, choice.key_source) == (
        "http://cwd-host:2/api",
        KEY_CWD,
        "SYNTH_API_KEY from ./.env",
    )
    choice = resolve_backend(None, cwd=tmp_path, environ={})
    assert choice.base_url == DEFAULT_SYNTH_BASE and choice.api_key is None
    choice = resolve_backend(None, cwd=tmp_path, environ={"SYNTH_BACKEND_URL_OVERRIDE": "local"})
    assert choice.base_url == "http://localhost:8000/api"


def test_nothing_is_written(tmp_path: Path) -> None:
    env_file, cwd = _files(tmp_path)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (env_file, cwd / ".env")}
    resolve_backend(None, env_file=env_file, cwd=cwd, environ={"SYNTH_API_KEY": KEY_ENV})
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in before} == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == [".env", "cwd", "secrets.env"]


def test_env_file_missing_or_unreadable(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match="does not exist"):
        resolve_backend(None, env_file=tmp_path / "nope.env", cwd=tmp_path, environ={})
    with pytest.raises(EnvFileError, match="is a folder"):
        resolve_backend(None, env_file=tmp_path, cwd=tmp_path, environ={})
    binary = tmp_path / "binary.env"
    binary.write_bytes(b"\xff\xfe\x00SYNTH")
    with pytest.raises(EnvFileError, match="cannot be read"):
        resolve_backend(None, env_file=binary, cwd=tmp_path, environ={})


def test_key_is_masked_everywhere(tmp_path: Path) -> None:
    choice = resolve_backend("http://h:1", cwd=tmp_path, environ={"SYNTH_API_KEY": KEY_ENV})
    for text in (repr(choice), choice.label(), str(choice), choice.store_label):
        assert KEY_ENV not in text
    assert "sk-fr…01" in choice.label()


def test_no_key_is_a_clear_error(tmp_path: Path) -> None:
    choice = resolve_backend("http://h:1", cwd=tmp_path, environ={})
    with pytest.raises(BackendAuthError, match="no SYNTH_API_KEY"):
        open_client(choice)


def test_bad_backend_flag(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="--backend"):
        resolve_backend("ftp://x", cwd=tmp_path, environ={})
    assert resolve_backend("local", cwd=tmp_path, environ={}).kind == "local"


def test_env_parsing() -> None:
    assert parse_env_text("# c\nexport A='1'\nB = \"2\"\nC=3 # note\nnoeq\n") == {"A": "1", "B": "2", "C": "3"}
