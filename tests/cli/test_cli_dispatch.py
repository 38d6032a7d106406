"""The CLI's shape: one handler per command through the dispatch table, exit codes by exception type
(never by message text), the version from the package metadata."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from rich.console import Console

import services.datasets.export as export_module
from services.datasets.export import NO_SESSIONS, ExportError, NothingMatched
from services.traces.db import DBLockedError, DBMissingError, TraceDBError
from tests.support.paths import ROOT
from tui.cli import main
from tui.cli.dispatch import COMMANDS, build_parser
from tui.cli.errors import CommandError, UsageError, exit_code, report


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and stderr."""
    capsys.readouterr()
    code = main(args)
    return code, capsys.readouterr().err


def test_every_command_has_a_handler() -> None:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert set(subparsers.choices) == set(COMMANDS)


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (KeyboardInterrupt(), 130),
        (UsageError("bad value"), 2),
        (CommandError("could not"), 1),
        (DBLockedError("locked"), 1),
        (TraceDBError("unreadable"), 1),
        (RuntimeError("a bug"), 2),
        (ValueError("Database not found: x"), 2),  # the text does not matter, only the type
    ],
)
def test_exit_codes_by_type(exc: BaseException, code: int) -> None:
    assert exit_code(exc) == code


def test_report_prints_one_paragraph(capsys: pytest.CaptureFixture[str]) -> None:
    err = Console(stderr=True)
    assert report(CommandError("it broke", "try this"), err) == 1
    assert capsys.readouterr().err == "Error: it broke\ntry this\n"
    assert report(RuntimeError("oops"), err) == 2
    assert capsys.readouterr().err == (
        "Error: sft-studio failed: RuntimeError: oops\nPlease report this with the command you ran.\n"
    )


def test_export_failures_are_told_apart_by_type(
    ref_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reference's own failures print its line as it does; an ExportError with the same words but
    another type is ours: an error paragraph, "No file was written."."""
    raised: list[BaseException] = []

    def fake_export(*_: object, **__: object) -> None:
        raise raised[-1]

    monkeypatch.setattr(export_module, "export_sft", fake_export)
    args = ["export", "--db", str(ref_db), "--output", str(tmp_path / "x.jsonl")]
    raised.append(NothingMatched(NO_SESSIONS))
    assert _run(args, capsys) == (1, f"{NO_SESSIONS}\n")
    raised.append(ExportError(NO_SESSIONS))
    assert _run(args, capsys) == (1, f"Error: {NO_SESSIONS}\nNo file was written.\n")
    raised.append(DBMissingError("Database not found: gone.db", "a hint"))
    assert _run(args, capsys) == (1, "Database not found: gone.db\n")
    raised.append(TraceDBError("Database not found: gone.db", "a hint"))
    assert _run(args, capsys) == (1, "Error: Database not found: gone.db\na hint\n")
    raised.append(OSError(28, "No space left on device"))
    assert _run(args, capsys) == (1, "Error: Cannot write the export: No space left on device.\nNo file was written.\n")


def test_version_comes_from_the_package_metadata(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out == f"sft-studio {version('sft-studio')}\n"


def test_python_m_tui_cli_and_version_stays_light() -> None:
    """``python -m tui.cli --version`` works and loads neither Textual nor the package metadata reader
    before it is asked for."""
    code = (
        "import sys, runpy\n"
        "sys.argv = ['sft-studio', '--version']\n"
        "try:\n"
        "    runpy.run_module('tui.cli', run_name='__main__')\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print('textual' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines() == [f"sft-studio {version('sft-studio')}", "False"]
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, tui.cli.dispatch; print('services.common.version' in sys.modules)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert proc.stdout.strip() == "False"


def _usage_lines(parser: argparse.ArgumentParser) -> list[str]:
    lines = [parser.format_usage()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                lines += _usage_lines(child)
    return lines


def test_usage_names_values_not_internal_dests() -> None:
    """Every (sub)command's usage says ``--db PATH``, never ``--db SUB_DB`` or another plural dest."""
    usage = "\n".join(_usage_lines(build_parser()))
    assert "--db PATH" in usage and "SUB_DB" not in usage
    for internal in ("MODELS", "PROVIDERS", "EXCLUDE_ACHIEVEMENTS", "REQUIRED_ACHIEVEMENTS", "EVENT_REWARD_FILTERS"):
        assert internal not in usage
    assert "--event-reward TYPE[:MIN]" in usage and "--seeds START-END" in usage


def test_demo_when_already_built_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A complete demo DB: no empty "0/0 0 dec/s" bars, one line on stderr, the path on stdout."""
    from services.rollouts import demo

    monkeypatch.setenv("SFT_STUDIO_DATA_DIR", str(tmp_path))
    db = demo.demo_db_path()
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    (db.parent / demo.COMPLETE_MARKER).write_text("built\n")
    monkeypatch.setattr(demo, "build_demo", lambda *a, **k: pytest.fail("nothing to build"))
    capsys.readouterr()
    assert main(["demo"]) == 0
    captured = capsys.readouterr()
    assert captured.err.strip().splitlines() == ["The demo DB is already built; rerunning adds nothing."]
    assert captured.out.strip() == str(db)


def test_demo_build_time_is_said_the_same_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    """README, `demo --help`, the app's help and its build screen quote one measured estimate
    (services.rollouts.demo.BUILD_TIME, from bench/bench_demo.py), not "20-30 s" here and "a minute" there."""
    from services.rollouts.demo import BUILD_TIME
    from tui.panes.traces.spec import SPEC

    def flat(text: str) -> str:
        return " ".join(text.split())

    assert flat(BUILD_TIME) in flat((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "20–30 s" not in (ROOT / "README.md").read_text(encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    assert flat(BUILD_TIME) in flat(capsys.readouterr().out)
    assert BUILD_TIME in SPEC.help
    source = (ROOT / "tui/panes/traces/collect_progress.py").read_text(encoding="utf-8")
    assert "BUILD_TIME" in source and "a minute at most" not in source


def _help_lines(parser: argparse.ArgumentParser) -> list[tuple[str, str | None]]:
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [(a.dest, a.help) for a in subparsers._choices_actions]


def test_lazy_help_lines_are_the_modules_own() -> None:
    """`sft-studio --help` lists the commands from dispatch's table without importing their modules;
    the lines (and their order) are those the modules give."""
    assert _help_lines(build_parser(None)) == _help_lines(build_parser())
    for command in COMMANDS:  # `validate` lives in export's module, `demo` in collect's: built once
        assert _help_lines(build_parser(command)) == _help_lines(build_parser())


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help_import_no_heavy_library(flag: str) -> None:
    """Start-up target (issue 10 item 23): no SQLAlchemy, pydantic, Rich or numpy before a command uses them."""
    code = (
        "import sys\n"
        "from tui.cli import main\n"
        f"try:\n    main([{flag!r}])\nexcept SystemExit:\n    pass\n"
        "heavy = ('sqlalchemy', 'pydantic', 'rich', 'numpy', 'textual', 'importlib.metadata')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert proc.stdout.splitlines()[-1] == "[]"
