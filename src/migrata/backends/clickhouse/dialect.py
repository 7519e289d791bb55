"""ClickHouse's dialect as data: no transactions, no advisory lock, an append-only history."""

from __future__ import annotations

from dataclasses import replace

from ...engines import Capabilities

#: A server: nothing can serialise two runs (migrata warns, see ``--require-lock``).
CAPABILITIES = Capabilities(
    transactional_ddl=False,
    pipelining=False,
    lock="none",
    history="events",
    cancel=False,
    transactions=False,
    schemas="database",
)
#: chdb: the engine holds its folder for one process, whose runs a mutex serialises.
CHDB_CAPABILITIES = replace(CAPABILITIES, lock="process")
