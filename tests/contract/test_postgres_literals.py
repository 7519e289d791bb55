"""migrata's own queries reach PostgreSQL with their parameters written as literals (one
message for a whole flight): the literals must mean exactly the values, whatever the text."""

from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Database
from migrata.backends.postgres.connection import _literal_sql

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",))),
)


@pytest.mark.parametrize("conforming", ["on", "off"])
def test_literals_mean_their_values(postgres_db: Database, conforming: str) -> None:
    with psycopg.connect(postgres_db.url, autocommit=True) as conn:
        conn.execute(f"SET standard_conforming_strings = {conforming}")
        conn.execute("SET escape_string_warning = off")

        @settings(
            max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
        )
        @given(st.lists(values, min_size=1, max_size=6))
        def check(params: list[object]) -> None:
            sql = "SELECT " + ", ".join("%s" for _ in params)
            rendered = _literal_sql(sql, params)
            assert rendered is not None
            got = conn.execute(rendered).fetchone()
            assert got is not None
            assert list(got) == params

        check()


def test_what_it_does_not_know_is_left_to_the_driver() -> None:
    assert _literal_sql("SELECT %s", (1.5,)) is None
    assert _literal_sql("SELECT %(a)s", (1,)) is None
    assert _literal_sql("SELECT '%%' || %s", ("x",)) is None
    assert _literal_sql("SELECT %s, %s", (1,)) is None
    assert _literal_sql("SELECT %s", ("it's \\ here",)) == "SELECT E'it''s \\\\ here'"
