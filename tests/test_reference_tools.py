"""Parity tests that cannot get the synth-ai reference skip on a developer's machine and fail under CI."""

from __future__ import annotations

import pytest

from tests.support.reference_tools import reference_unavailable


def test_skips_with_the_reason_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="PyPI unreachable"):
        reference_unavailable("PyPI unreachable")


def test_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"PyPI unreachable .*CI is set"):
        reference_unavailable("PyPI unreachable")
