"""MySQL and MariaDB (PyMySQL): their descriptor. ``connection`` holds the backend,
``dialect`` the capabilities and transaction rules, ``split`` the splitter (the ``mysql``
client's rules)."""

from __future__ import annotations

from ...models import Script, Statement
from ..base import ConnectionModule, EngineBase
from .dialect import CAPABILITIES, implicit_commit, manages_transaction


class MySQLEngine(EngineBase):
    name = "mysql"
    title = "MySQL/MariaDB"
    schemes = ("mysql", "mariadb")
    capabilities = CAPABILITIES
    driver_module = "pymysql"
    borrowed_driver = "PyMySQL"

    def split(self, script: Script) -> tuple[Statement, ...]:
        from .split import split_mysql

        return split_mysql(script)

    def implicit_commit(self, sql: str) -> str | None:
        return implicit_commit(sql)

    def manages_transaction(self, sql: str) -> bool:
        return manages_transaction(sql)

    def connection(self) -> ConnectionModule:
        from . import connection

        return connection


ENGINE = MySQLEngine()
