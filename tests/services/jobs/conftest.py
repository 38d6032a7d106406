from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stub_backend import StubBackend


@pytest.fixture
def stub() -> Iterator[StubBackend]:
    with StubBackend() as backend:
        yield backend
