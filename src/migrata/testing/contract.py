"""The backend contract: what every :class:`~migrata.backends.Backend` must do, as pytest tests
an engine's own test suite reuses by pointing them at its backend.

Subclass :class:`BackendContract` in a test module and give it two fixtures::

    import pytest
    from migrata.testing.contract import BackendContract

    class TestMyEngine(BackendContract):
        @pytest.fixture
        def backend(self):
            backend = open_backend(parse_url(url_of_a_fresh_empty_database))
            yield backend
            backend.close()

        @pytest.fixture
        def second_backend(self, backend):
            # another connection to the same database, for the lock's tests
            ...

The expectations read the backend's ``capabilities`` (transactions? transactional DDL? which
lock?), never its engine's name, so a new engine is tested by these as it is, once its
capabilities say what it can do. Requires pytest (the ``dev`` extra).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ..backends.base import Backend, Query, QueryFailed
from ..engines import engine_named
from ..errors import LockTimeout
from ..history import History
from ..models import Migration, Script, Version

__all__ = ["BackendContract"]


def _create_table(backend: Backend, name: str) -> Query:
    """``CREATE TABLE name (a INTEGER)`` with the options the engine needs (ClickHouse: an
    ENGINE clause)."""
    return Query(
        f"CREATE TABLE {backend.quote_identifier(name)} (a INTEGER){backend.table_options}"
    )


def _insert(backend: Backend, table: str, value: int) -> Query:
    return Query(
        f"INSERT INTO {backend.quote_identifier(table)} (a) VALUES ({backend.placeholder})",
        (value,),
    )


def _values(backend: Backend, table: str) -> list[int]:
    rows = backend.fetch(f"SELECT a FROM {backend.quote_identifier(table)} ORDER BY a")
    return [int(row[0]) for row in rows]


def _migration(version: str) -> Migration:
    return Migration(
        version=Version.parse(version),
        name="contract",
        up=Script(path=f"{version}_contract.sql", text="SELECT 1;"),
        down=None,
        checksum="c" * 64,
    )


class BackendContract:
    """The contract, as test methods; see the module's docstring for the fixtures."""

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        raise NotImplementedError("a BackendContract subclass provides the backend fixture")

    @pytest.fixture
    def second_backend(self) -> Iterator[Backend]:
        raise NotImplementedError(
            "a BackendContract subclass provides the second_backend fixture: another "
            "connection to the backend's database"
        )

    # -- queries ----------------------------------------------------------------------------

    def test_run_returns_the_rows_of_each_query_in_order(self, backend: Backend) -> None:
        backend.run([_create_table(backend, "contract_t")])
        results = backend.run(
            [
                _insert(backend, "contract_t", 1),
                Query("SELECT 2"),
                _insert(backend, "contract_t", 3),
                Query(f"SELECT a FROM {backend.quote_identifier('contract_t')} ORDER BY a"),
            ]
        )
        assert len(results) == 4
        assert [tuple(r) for r in results[1]] == [(2,)]
        assert [int(r[0]) for r in results[3]] == [1, 3]

    def test_fetch_returns_the_rows_of_one_query(self, backend: Backend) -> None:
        rows = backend.fetch(f"SELECT {backend.placeholder}", ("x",))
        assert [tuple(r) for r in rows] == [("x",)]

    def test_a_failure_names_its_query_and_stops_the_batch(self, backend: Backend) -> None:
        backend.run([_create_table(backend, "contract_t")])
        with pytest.raises(QueryFailed) as info:
            backend.run(
                [
                    _insert(backend, "contract_t", 1),
                    Query("SELECT no_such_column FROM no_such_table_either"),
                    _insert(backend, "contract_t", 2),
                ]
            )
        backend.rollback()
        assert info.value.index == 1
        assert info.value.message
        assert 2 not in _values(backend, "contract_t")

    def test_a_missing_table_is_recognised(self, backend: Backend) -> None:
        with pytest.raises(QueryFailed) as info:
            backend.fetch("SELECT a FROM contract_no_such_table")
        backend.rollback()
        assert backend.is_missing_table(info.value)

    def test_rollback_without_a_transaction_does_nothing(self, backend: Backend) -> None:
        backend.rollback()
        assert [tuple(r) for r in backend.fetch("SELECT 1")] == [(1,)]

    def test_quoted_identifiers_keep_their_case_and_odd_characters(self, backend: Backend) -> None:
        name = 'Contract "odd" Name'
        backend.run([_create_table(backend, name), _insert(backend, name, 7)])
        assert _values(backend, name) == [7]
        found = backend.table_columns([(None, name), (None, "contract_absent")])
        assert found == {(None, name): frozenset({"a"})}

    def test_table_columns_sends_no_query_for_no_table(self, backend: Backend) -> None:
        assert backend.table_columns([]) == {}

    # -- transactions -----------------------------------------------------------------------

    def _transactions(self, backend: Backend) -> None:
        if not backend.capabilities.transactions:
            pytest.skip("the engine has no transactions (capabilities.transactions)")

    def test_a_committed_transaction_is_kept(self, backend: Backend) -> None:
        self._transactions(backend)
        backend.run([_create_table(backend, "contract_t")])
        backend.execute_transaction(
            [Query("BEGIN"), _insert(backend, "contract_t", 1), Query("COMMIT")]
        )
        assert _values(backend, "contract_t") == [1]

    def test_a_failed_transaction_rolls_back_entirely(self, backend: Backend) -> None:
        self._transactions(backend)
        backend.run([_create_table(backend, "contract_t")])
        with pytest.raises(QueryFailed) as info:
            backend.execute_transaction(
                [
                    Query("BEGIN"),
                    _insert(backend, "contract_t", 1),
                    Query("SELECT no_such_column FROM no_such_table_either"),
                    Query("COMMIT"),
                ]
            )
        backend.rollback()
        assert info.value.index == 2
        assert _values(backend, "contract_t") == []

    def test_ddl_rolls_back_exactly_where_capabilities_say(self, backend: Backend) -> None:
        self._transactions(backend)
        with pytest.raises(QueryFailed):
            backend.execute_transaction(
                [
                    Query("BEGIN"),
                    _create_table(backend, "contract_ddl"),
                    Query("SELECT no_such_column FROM no_such_table_either"),
                    Query("COMMIT"),
                ]
            )
        backend.rollback()
        exists = bool(backend.table_columns([(None, "contract_ddl")]))
        assert exists is not backend.capabilities.transactional_ddl

    def test_transactions_sent_together_stop_at_the_first_failure(self, backend: Backend) -> None:
        """Several transactions in one batch (a flight, where ``capabilities.flights``): the
        ones before a failure are committed and told of, the failing one is left for
        rollback, and nothing after it runs."""
        self._transactions(backend)
        backend.run([_create_table(backend, "contract_t")])
        told: list[int] = []
        with pytest.raises(QueryFailed) as info:
            backend.execute_transactions(
                [
                    Query("BEGIN"),
                    _insert(backend, "contract_t", 1),
                    Query("COMMIT"),
                    Query("BEGIN"),
                    _insert(backend, "contract_t", 2),
                    Query("SELECT no_such_column FROM no_such_table_either"),
                    Query("COMMIT"),
                    Query("BEGIN"),
                    _insert(backend, "contract_t", 3),
                    Query("COMMIT"),
                ],
                done=told.append,
            )
        backend.rollback()
        assert info.value.index == 5
        assert told == [0, 1, 2, 3, 4]
        assert _values(backend, "contract_t") == [1]

    # -- the lock ---------------------------------------------------------------------------

    def _exclusive(self, backend: Backend) -> None:
        if backend.capabilities.lock == "none":
            pytest.skip("the engine offers no lock (capabilities.lock == 'none')")

    def test_the_lock_is_held_for_the_block_and_released_after(
        self, backend: Backend, second_backend: Backend
    ) -> None:
        self._exclusive(backend)
        with (
            backend.lock("contract", 5),
            pytest.raises(LockTimeout),
            second_backend.lock("contract", 0.2),
        ):
            pass
        with second_backend.lock("contract", 5):
            pass

    def test_the_lock_is_released_when_the_block_fails(
        self, backend: Backend, second_backend: Backend
    ) -> None:
        self._exclusive(backend)
        with pytest.raises(RuntimeError), backend.lock("contract", 5):
            raise RuntimeError("the block fails")
        with second_backend.lock("contract", 1):
            pass

    def test_a_waiting_run_gets_the_lock_when_the_holder_releases_it(
        self, backend: Backend, second_backend: Backend
    ) -> None:
        self._exclusive(backend)
        held = threading.Event()
        release = threading.Event()

        def hold() -> None:
            with backend.lock("contract", 5):
                held.set()
                release.wait(5)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert held.wait(5)
            threading.Timer(0.3, release.set).start()
            with second_backend.lock("contract", 10):
                assert release.is_set()
        finally:
            release.set()
            holder.join(10)

    def test_other_lock_names_do_not_conflict(
        self, backend: Backend, second_backend: Backend
    ) -> None:
        self._exclusive(backend)
        if backend.capabilities.lock == "file":
            pytest.skip("a file lock is the database's, whatever its name")
        with backend.lock("contract_a", 5), second_backend.lock("contract_b", 1):
            pass

    # -- declared data ----------------------------------------------------------------------

    def test_capabilities_agree_with_the_registered_engine(self, backend: Backend) -> None:
        """The descriptor's capabilities are the backend's, up to the lock (chdb's process
        mutex where a ClickHouse server has none)."""
        declared = engine_named(backend.dialect).capabilities
        actual = backend.capabilities
        assert (actual.transactional_ddl, actual.transactions, actual.history) == (
            declared.transactional_ddl,
            declared.transactions,
            declared.history,
        )
        assert (actual.schemas, actual.pipelining, actual.cancel) == (
            declared.schemas,
            declared.pipelining,
            declared.cancel,
        )
        if not actual.transactions:
            assert not actual.transactional_ddl

    def test_the_history_round_trips(self, backend: Backend) -> None:
        """The tracking tables, created, written and read through the engine's SQL."""
        history = History(backend, table="contract_history")
        assert not history.read().exists
        history.ensure(history.read())
        state = history.read()
        assert state.exists and state.applied == ()
        backend.run(history.applied_queries(_migration("1"), execution_ms=5, statements=1))
        backend.run(history.started_queries(_migration("2"), total=3, direction="up"))
        backend.run([history.progress_query(_migration("2"), done=1, total=3)])
        rows = {a.version.text: a for a in history.read().applied}
        assert rows["1"].success and rows["1"].execution_ms == 5
        assert not rows["2"].success and rows["2"].statements_done == 1
        backend.run(history.reverted_queries(_migration("1")))
        assert [a.version.text for a in history.read().applied] == ["2"]
        assert [e.event for e in history.read_audit()] == ["applied", "started", "reverted"]
