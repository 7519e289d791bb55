"""The labelled migrations of tests/fixtures/lint_cases: every dangerous case is found by its
rule, no safe case is flagged."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from migrata.lint import RULES, LintOptions, lint
from migrata.models import Migration, Script, Version

CASES_FILE = Path(__file__).parents[1] / "fixtures" / "lint_cases" / "cases.toml"
CASES: list[dict[str, Any]] = tomllib.loads(CASES_FILE.read_text(encoding="utf-8"))["case"]


def _migration(version: str, sql: str, *, transactional: bool = True) -> Migration:
    script = Script(f"{version}_case.sql", sql, transactional=transactional)
    return Migration(Version.parse(version), "case", script, None, "x")


def _findings(case: dict[str, Any]) -> list[str]:
    runs = [_migration("2", case["sql"], transactional=case.get("transactional", True))]
    if "before" in case:
        runs.insert(0, _migration("1", case["before"]))
    existing = [_migration("0", case["existing"])] if "existing" in case else []
    findings = lint(
        runs,
        case.get("dialect", "postgresql"),
        options=LintOptions(server_version=case.get("version")),
        existing=existing,
    )
    return [f.rule for f in findings if f.allowed is None and f.version == "2"]


def test_there_are_enough_cases_and_each_is_well_formed() -> None:
    assert len(CASES) >= 40
    for case in CASES:
        assert case["kind"] in {"dangerous", "safe"}, case["name"]
        assert case["reason"], case["name"]
        if case["kind"] == "dangerous":
            assert case["rule"] in RULES, case["name"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_labelled_case(case: dict[str, Any]) -> None:
    found = _findings(case)
    if case["kind"] == "dangerous":
        assert case["rule"] in found, f"{case['name']}: {case['reason']}"
    else:
        assert found == [], f"{case['name']} ({case['reason']}) flagged: {found}"


def test_every_rule_has_a_dangerous_case_or_a_unit_test() -> None:
    labelled = {c["rule"] for c in CASES if c["kind"] == "dangerous"}
    # Opt-in and cluster rules need options: tests/unit/test_lint_rules.py covers them.
    # folder-layout is read from the folder by Migrator.lint: tests/cli/test_lint_cli.py.
    assert set(RULES) - labelled <= {
        "prefer-bigint-key",
        "clickhouse-missing-on-cluster",
        "folder-layout",
    }
