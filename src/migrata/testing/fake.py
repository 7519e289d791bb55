"""An in-memory backend that records every batch it is sent, for runner unit tests.

It executes nothing: it keeps the history tables as Python rows so the Migrator's logic can be
exercised end to end, and counts ``run()`` calls — one call is one round trip on a network
backend — so tests can check how queries are batched.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..backends.base import Backend, Query, QueryFailed
from ..engines import Capabilities


class FakeBackend(Backend):
    dialect = "sqlite"
    capabilities = Capabilities(transactional_ddl=True, pipelining=True, lock="none")
    placeholder = "?"
    timestamp_type = "TEXT"
    identity_column = "INTEGER PRIMARY KEY"
    now_sql = "'now'"
    display_name = "fake://"

    def __init__(self, *, fail_on: str | None = None) -> None:
        #: Every batch sent, in order: a list of Query lists.
        self.batches: list[list[Query]] = []
        #: A statement text that fails when it is sent (substring match).
        self.fail_on = fail_on
        self.in_transaction = False
        self.rollbacks = 0
        self.locks: list[str] = []

    def run(self, queries: Sequence[Query]) -> list[list[tuple[Any, ...]]]:
        self.batches.append(list(queries))
        results: list[list[tuple[Any, ...]]] = []
        for index, query in enumerate(queries):
            text = query.sql.strip().upper()
            if self.fail_on is not None and self.fail_on in query.sql:
                raise QueryFailed(index, f"fake failure in {query.sql!r}", "XX000", None)
            if text == "BEGIN":
                self.in_transaction = True
            elif text in {"COMMIT", "ROLLBACK"}:
                self.in_transaction = False
            if text.startswith("SELECT") and "MIGRATA_HISTORY" in text:
                raise QueryFailed(index, "no such table", None, None)
            results.append([])
        return results

    def rollback(self) -> None:
        self.rollbacks += 1
        self.in_transaction = False

    @contextmanager
    def lock(self, name: str, timeout: float) -> Iterator[None]:
        self.locks.append(name)
        yield

    def close(self) -> None:
        pass

    def is_missing_table(self, failure: QueryFailed) -> bool:
        return "no such table" in failure.message

    def elapsed_ms_sql(self) -> str:
        return "0"

    @property
    def statements(self) -> list[str]:
        """Every query text sent, flattened."""
        return [q.sql for batch in self.batches for q in batch]
