"""The backend contract (migrata.testing.contract) on every configured engine: the suite a new
engine's backend is tested with, pointed at migrata's own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import Database
from migrata.backends import Backend, open_backend
from migrata.testing.contract import BackendContract
from migrata.urls import parse_url


class TestEveryBackend(BackendContract):
    @pytest.fixture
    def backend(self, db: Database) -> Iterator[Backend]:
        backend = open_backend(parse_url(db.url))
        try:
            yield backend
        finally:
            backend.close()

    @pytest.fixture
    def second_backend(self, db: Database) -> Iterator[Backend]:
        backend = open_backend(parse_url(db.url))
        try:
            yield backend
        finally:
            backend.close()
