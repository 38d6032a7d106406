"""Hostile configs and file-system faults against `sft-studio config ...` and the config document
(issue 11 items 7, 11 and 13): symlinks, permission bits, deep nesting, a BOM, huge input, bad keys.

Every command is driven through ``tui.cli.main`` as a user would run it; nothing may crash (no
RecursionError, no "sft-studio failed"), and a refused command changes no file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from services.configs.document import ConfigDocument
from services.configs.toml_load import MAX_NESTING
from tests.support.paths import ROOT
from tui.cli import main

LORA = (ROOT / "configs" / "crafter_lora_qwen0p6b.toml").read_text()


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # rich wraps at 80 columns otherwise
    monkeypatch.delenv("SDK_EXPERIMENTAL", raising=False)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# ------------------------------------------------------------------------------- symlinks, modes


def test_set_through_a_symlink_writes_the_target_and_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    target = real / "lora.toml"
    target.write_text(LORA)
    link = tmp_path / "link.toml"
    link.symlink_to(target)
    assert main(["config", "set", str(link), "hyperparameters.learning_rate=2e-5"]) == 0
    assert link.is_symlink() and link.resolve() == target
    assert "learning_rate = 2e-5\n" in target.read_text()
    assert (real / "lora.toml.bak").read_text() == LORA  # the backup is beside the target
    assert not (tmp_path / "link.toml.bak").exists()
    assert _leftovers(real) == [] and _leftovers(tmp_path) == []


def test_the_pane_save_writes_through_a_symlink_too(tmp_path: Path) -> None:
    """The pane saves through ``ConfigDocument.save``: same rule as the CLI."""
    target = tmp_path / "target.toml"
    target.write_text(LORA)
    link = tmp_path / "link.toml"
    link.symlink_to(target.name)  # a relative link
    doc = ConfigDocument.load(link)
    doc.set_literal("hyperparameters.n_epochs", "3")
    doc.save()
    assert link.is_symlink() and "n_epochs = 3" in target.read_text()
    assert doc.last_backup == tmp_path / "target.toml.bak"


def test_a_0600_config_keeps_its_mode_and_so_does_its_backup(tmp_path: Path) -> None:
    target = tmp_path / "secret.toml"
    target.write_text(LORA)
    target.chmod(0o600)
    assert main(["config", "set", str(target), "hyperparameters.n_epochs=2"]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "secret.toml.bak").stat().st_mode) == 0o600
    assert _leftovers(tmp_path) == []


def test_a_0600_target_behind_a_symlink_stays_0600(tmp_path: Path) -> None:
    target = tmp_path / "t.toml"
    target.write_text(LORA)
    target.chmod(0o600)
    (tmp_path / "l.toml").symlink_to(target)
    assert main(["config", "set", str(tmp_path / "l.toml"), "hyperparameters.n_epochs=2"]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "t.toml.bak").stat().st_mode) == 0o600


# ---------------------------------------------------------------------------------- one loader


def _deep(depth: int) -> str:
    return LORA + f"\n[tags]\ndeep = {'[' * depth}1{']' * depth}\n"


@pytest.mark.parametrize("depth", [5_000, MAX_NESTING + 1])
def test_deep_nesting_is_one_clear_error_in_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], depth: int
) -> None:
    path = tmp_path / "deep.toml"
    path.write_text(_deep(depth))
    line = LORA.count("\n") + 3
    column = 7 + MAX_NESTING + 1  # the first bracket past the limit, 1-based
    expected = f"Invalid TOML at line {line}, column {column}: arrays or inline tables nested more than"
    commands = [
        ["config", "validate", str(path)],
        ["config", "payload", str(path)],
        ["config", "set", str(path), "hyperparameters.n_epochs=2"],
        ["config", "sweep", str(path), "--axis", "lora_rank", "--values", "4,8", "--dry-run"],
    ]
    for argv in commands:
        assert main(argv) == 1, argv
        captured = capsys.readouterr()
        both = _flat(captured.out + captured.err)
        assert expected in both, (argv, both[:400])
        assert "RecursionError" not in both and "sft-studio failed" not in both
    assert path.read_text() == _deep(depth)


def test_nesting_within_the_limit_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(_deep(MAX_NESTING))
    assert main(["config", "validate", str(path)]) == 0


def test_toml_error_columns_are_the_same_in_validate_and_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(LORA + "\n[tags]\nx = \n")
    line = LORA.count("\n") + 3
    assert main(["config", "validate", str(path)]) == 1
    validate = _flat(capsys.readouterr().out)
    assert main(["config", "set", str(path), "hyperparameters.n_epochs=2"]) == 1
    setter = _flat(capsys.readouterr().err)
    message = f"Invalid TOML at line {line}, column 5: Invalid value"
    assert message in validate and message in setter


def test_a_bom_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + LORA.encode())
    assert main(["config", "validate", str(path)]) == 1
    out = _flat(capsys.readouterr().out)
    assert "byte-order mark (BOM)" in out and "line 1, column 1" in out
    assert main(["config", "set", str(path), "hyperparameters.n_epochs=2"]) == 1
    assert "byte-order mark (BOM)" in _flat(capsys.readouterr().err)


# ---------------------------------------------------------------------------------- huge input


def test_a_huge_model_name_is_not_echoed_in_full(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "huge.toml"
    name = "Q" * 10_000_000
    path.write_text(LORA.replace('model = "Qwen/Qwen3-0.6B"', f'model = "{name}"'))
    assert main(["config", "validate", str(path)]) == 1
    captured = capsys.readouterr()
    assert len(captured.out) + len(captured.err) < 20_000
    assert "10,000,000 characters in all" in captured.out
    assert main(["config", "payload", str(path)]) == 1
    captured = capsys.readouterr()
    assert len(captured.out) + len(captured.err) < 20_000


def test_thousands_of_unknown_keys_are_summarised(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(LORA + "\n[junk]\n" + "".join(f"k{i} = {i}\n" for i in range(5_000)))
    main(["config", "validate", str(path)])
    out = capsys.readouterr().out
    assert out.count("Unknown key") <= 50
    assert "more like these" in out
    assert len(out.splitlines()) < 80


# ------------------------------------------------------------------------------------ bad keys


def test_set_refuses_empty_key_parts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "c.toml"
    path.write_text(LORA)
    for key in ("compute..gpu_count", ".compute", "compute."):
        assert main(["config", "set", str(path), f"{key}=1", "--allow-new-key"]) == 1
        assert "empty key part" in _flat(capsys.readouterr().err)
    assert path.read_text() == LORA


def test_sweep_out_that_is_a_file_and_existing_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "base.toml"
    base.write_text(LORA)
    a_file = tmp_path / "afile"
    a_file.write_text("x")
    sweep = ["config", "sweep", str(base), "--axis", "lora_rank", "--values", "4,8"]
    assert main([*sweep, "--out", str(a_file)]) == 1
    err = _flat(capsys.readouterr().err)
    assert f"{a_file} is a file, not a folder" in err and "File exists" not in err
    out = tmp_path / "cells"
    assert main([*sweep, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([*sweep, "--out", str(out)]) == 1
    err = _flat(capsys.readouterr().err)
    assert "--overwrite" in err and "use overwrite" not in err
    assert main([*sweep, "--out", str(out), "--overwrite"]) == 0
    assert os.listdir(out)
