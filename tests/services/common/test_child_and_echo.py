"""The shared child-process and echo helpers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from services.common.echo import cap_echo, summarise


def test_cap_echo_keeps_short_text_and_cuts_long_text() -> None:
    assert cap_echo("model-x") == "model-x"
    long = "m" * 10_000_000
    capped = cap_echo(long)
    assert len(capped) < 200
    assert "10,000,000 characters" in capped


def test_summarise_counts_the_rest() -> None:
    lines = [f"w{i}" for i in range(60)]
    out = summarise(lines)
    assert out[:50] == lines[:50]
    assert out[50] == "… and 10 more like these"
    assert summarise(lines[:3]) == lines[:3]


def test_a_child_dies_with_its_parent(tmp_path) -> None:
    """The parent starts a sleeping child with die_with_parent, then is SIGKILLed: the child ends."""
    pidfile = tmp_path / "child.pid"
    parent = textwrap.dedent(
        f"""
        import os, subprocess, sys, time
        from services.common.child_process import die_with_parent
        me = os.getpid()
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                             preexec_fn=lambda: die_with_parent(me))
        open({str(pidfile)!r}, "w").write(str(p.pid))
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", parent])
    deadline = time.monotonic() + 20
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child = int(pidfile.read_text())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{child}/stat") as f:
                state = f.read().split()[2]
            if state == "Z":
                break
        except FileNotFoundError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the child outlived its parent")
