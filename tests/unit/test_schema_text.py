"""The pure parts of the schema readers: PostgreSQL's sorting and exclusion of catalog rows,
and MySQL's normalisation of SHOW CREATE text, with a scripted ``fetch``."""

from __future__ import annotations

from typing import Any

from migrata.backends.mysql import schema as mysql_schema
from migrata.backends.postgres import schema as pg_schema


def test_postgres_rows_sort_by_kind_schema_table_name_in_code_point_order() -> None:
    rows = [
        (pg_schema.INDEX, "public", "items", "b_idx", "CREATE INDEX b_idx;"),
        (pg_schema.TABLE, "public", "items", "items", "CREATE TABLE public.items ();"),
        (pg_schema.INDEX, "public", "items", "B_idx", "CREATE INDEX B_idx;"),
        (pg_schema.SCHEMA, "app", "", "app", "CREATE SCHEMA app;"),
    ]
    assert pg_schema.render(rows) == (
        "CREATE SCHEMA app;\n\nCREATE TABLE public.items ();\n\n"
        "CREATE INDEX B_idx;\n\nCREATE INDEX b_idx;\n"
    )
    assert pg_schema.render([]) == ""


def test_postgres_exclusion_is_by_bare_table_name_in_any_case() -> None:
    rows = [
        (pg_schema.TABLE, "app", "Migrata_History", "Migrata_History", "CREATE TABLE h;"),
        (pg_schema.INDEX, "public", "widgets", "widgets_name", "CREATE INDEX w;"),
        (pg_schema.TABLE, "public", "gadgets", "gadgets", "CREATE TABLE g;"),
    ]
    assert pg_schema.render(rows, exclude=["WIDGETS"]) == "CREATE TABLE g;\n"


def test_postgres_search_path_comes_back_when_the_read_fails() -> None:
    calls: list[tuple[str, Any]] = []

    def fetch(sql: str, params: tuple[Any, ...] | None) -> list[tuple[Any, ...]]:
        calls.append((sql, params))
        if sql == pg_schema.OBJECTS_SQL:
            raise RuntimeError("boom")
        return [('"$user", public', "")]

    try:
        pg_schema.read_schema(fetch)
    except RuntimeError:
        pass
    assert calls[-1][1] == ('"$user", public',)


def _mysql_fetch(shows: dict[str, tuple[Any, ...]]) -> Any:
    listing = (
        [("database", "shop", "", "")]
        + [("table", name, name, kind) for name, kind in (("items", "BASE TABLE"), ("v", "VIEW"))]
        + [("routine", "p", "", "PROCEDURE"), ("trigger", "t", "items", "")]
    )

    def fetch(sql: str, params: tuple[Any, ...] | None) -> list[tuple[Any, ...]]:
        return listing if sql == mysql_schema.LIST_SQL else [shows[sql]]

    return fetch


def test_mysql_text_drops_counters_definers_and_the_database_name() -> None:
    fetch = _mysql_fetch(
        {
            "SHOW CREATE TABLE `items`": (
                "items",
                (
                    "CREATE TABLE `items` (\n  `id` int NOT NULL AUTO_INCREMENT,\n"
                    "  PRIMARY KEY (`id`)\n) ENGINE=InnoDB AUTO_INCREMENT=42 DEFAULT CHARSET=utf8mb4"
                ),
            ),
            "SHOW CREATE VIEW `v`": (
                "v",
                (
                    "CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW `v` AS "
                    "select `shop`.`items`.`id` AS `id` from `shop`.`items`"
                ),
                "utf8mb4",
                "utf8mb4_general_ci",
            ),
            "SHOW CREATE PROCEDURE `p`": (
                "p",
                "",
                "CREATE DEFINER='admin'@'10.0.0.1' PROCEDURE `p`()\nBEGIN SELECT 'DEFINER=x@y'; END",
            ),
            "SHOW CREATE TRIGGER `t`": (
                "t",
                "",
                (
                    "CREATE DEFINER=`a``b`@localhost TRIGGER t BEFORE INSERT ON items FOR EACH ROW "
                    "SET NEW.id = 1"
                ),
            ),
        }
    )
    assert mysql_schema.read_schema(fetch) == (
        "CREATE TABLE `items` (\n  `id` int NOT NULL AUTO_INCREMENT,\n"
        "  PRIMARY KEY (`id`),\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n\n"
        "CREATE VIEW `v` AS select `items`.`id` AS `id` from `items`;\n\n"
        "CREATE PROCEDURE `p`()\nBEGIN SELECT 'DEFINER=x@y'; END;\n\n"
        "CREATE TRIGGER t BEFORE INSERT ON items FOR EACH ROW SET NEW.id = 1;\n"
    )
    # Excluding the table takes its trigger along.
    text = mysql_schema.read_schema(fetch, exclude=["ITEMS"])
    assert "items`" not in text.split("CREATE VIEW")[0] and "TRIGGER" not in text


def test_mysql_batches_every_show_create_through_fetch_all() -> None:
    fetch = _mysql_fetch(
        {
            "SHOW CREATE TABLE `items`": ("items", "CREATE TABLE `items` (\n  `id` int\n)"),
            "SHOW CREATE VIEW `v`": ("v", "CREATE VIEW `v` AS select 1 AS `1`"),
            "SHOW CREATE PROCEDURE `p`": ("p", "", None),
            "SHOW CREATE TRIGGER `t`": (
                "t",
                "",
                "CREATE TRIGGER t BEFORE INSERT ON items SET @a = 1",
            ),
        }
    )
    batches: list[list[str]] = []

    def fetch_all(sqls: Any) -> list[list[tuple[Any, ...]]]:
        batches.append(list(sqls))
        return [fetch(sql, None) for sql in sqls]

    text = mysql_schema.read_schema(fetch, fetch_all=fetch_all)
    assert len(batches) == 1 and len(batches[0]) == 4
    assert "-- p: definition not visible to this user;" in text
