"""The engine registry: each engine is one package under backends/, and nothing outside the
backends names one."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import migrata
from migrata.engines import (
    ENGINE_PACKAGES,
    engine_for_scheme,
    engine_named,
    known_schemes,
    registered_engines,
)
from migrata.models import Script
from migrata.split.transactions import decide_transaction
from migrata.urls import parse_url

SRC = Path(migrata.__file__).parent

#: Comparisons with an engine's name that remain outside backends/, each with its reason.
KNOWN_NAME_BRANCHES: set[str] = set()


def test_every_registered_package_describes_one_engine() -> None:
    engines = registered_engines()
    assert len(engines) == len(ENGINE_PACKAGES)
    names = [e.name for e in engines]
    assert len(set(names)) == len(names)
    schemes = [s for e in engines for s in e.schemes]
    assert len(set(schemes)) == len(schemes)
    for engine in engines:
        assert engine_named(engine.name) is engine
        for scheme in engine.schemes:
            assert engine_for_scheme(scheme) is engine


@pytest.mark.parametrize("package", ENGINE_PACKAGES)
def test_each_connection_module_provides_what_the_descriptor_reaches(package: str) -> None:
    connection = importlib.import_module(f"migrata.backends.{package}.connection")
    for name in ("connect", "borrow", "create_database", "drop_database"):
        assert callable(getattr(connection, name)), name


@pytest.mark.parametrize("engine", registered_engines(), ids=lambda e: e.name)
def test_every_scheme_parses_to_its_engine(engine) -> None:  # type: ignore[no-untyped-def]
    for scheme in engine.schemes:
        url = f"{scheme}:///data/x.db" if engine.file_based else f"{scheme}://u@h/db"
        assert parse_url(url).engine == engine.name
    assert all(s in " ".join(known_schemes()) for s in engine.schemes)


def test_an_engine_without_transactions_runs_every_script_outside_one() -> None:
    for engine in registered_engines():
        script = Script(path="x.sql", text="SELECT 1;")
        decided = decide_transaction(script, engine.split(script), engine.name)
        assert decided.transactional is engine.capabilities.transactions
        if not engine.capabilities.transactions:
            assert decided.transaction_note == (
                f"{engine.title} has no transactions, so this migration runs statement by "
                "statement with its progress recorded"
            )


def test_no_module_outside_the_backends_compares_with_an_engine_name() -> None:
    """An engine's differences are its capabilities and its package's code: a comparison
    with its name (``dialect == "mysql"``) anywhere else is a leak."""
    words = {e.name for e in registered_engines()} | {
        s for e in registered_engines() for s in e.schemes
    }
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC)
        if relative.parts[0] in {"backends", "testing"} or relative.name == "engines.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Compare):
                continue
            for operand in [node.left, *node.comparators]:
                constants = [operand, *getattr(operand, "elts", [])]
                for constant in constants:
                    if isinstance(constant, ast.Constant) and constant.value in words:
                        offenders.append(f"{relative}:{node.lineno}")
    assert sorted({o.split(":")[0] for o in offenders}) == sorted(KNOWN_NAME_BRANCHES)
