"""What a lint run reports, how its findings rank, and the linter's settings from a config file.

The ``[tool.migrata.lint]`` table (``[lint]`` in migrata.toml)::

    disabled = ["prefer-jsonb"]              # rules that never report
    enabled = ["prefer-bigint-key"]          # opt-in rules switched on
    fail_on = "warning"                      # the lowest severity that fails `migrata lint`
    up = "error"                             # the setting `lint` (what `up` does with findings)
    [tool.migrata.lint.severities]
    rename-column = "error"                  # a rule's severity, changed
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..errors import ConfigError
from ..exitcodes import ExitCode

if TYPE_CHECKING:
    from . import Finding, LintOptions, Severity

__all__ = ["FAIL_ON", "SEVERITIES", "LintReport", "lint_options_from_table", "ranks_at_least"]

#: Severities from the least to the most serious.
SEVERITIES: tuple[str, ...] = ("info", "warning", "error")
#: What ``--fail-on`` accepts: a severity, or "never".
FAIL_ON: tuple[str, ...] = (*SEVERITIES, "never")


def ranks_at_least(severity: str, threshold: str) -> bool:
    """``severity`` is ``threshold`` or more serious ("never" is reached by nothing)."""
    if threshold == "never":
        return False
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)


@dataclass(frozen=True, slots=True)
class LintReport:
    """The findings of a lint run over ``checked`` (versions, in order) and the severity from
    which they fail it."""

    findings: tuple[Finding, ...]
    checked: tuple[str, ...]
    fail_on: str = "error"
    #: What the linter knew of the database ("catalog of postgresql://…", "no database").
    context: str = "no database"

    @property
    def reported(self) -> tuple[Finding, ...]:
        """The findings no directive allowed."""
        return tuple(f for f in self.findings if f.allowed is None)

    @property
    def failing(self) -> tuple[Finding, ...]:
        """The reported findings at ``fail_on`` or above."""
        return tuple(f for f in self.reported if ranks_at_least(f.severity, self.fail_on))

    @property
    def exit_code(self) -> ExitCode:
        """``migrata lint``'s exit code: 6 when a finding fails the run, else 0."""
        return ExitCode.LINT if self.failing else ExitCode.OK


def lint_options_from_table(
    table: Mapping[str, Any], where: str, rule_ids: Sequence[str]
) -> tuple[LintOptions, str | None]:
    """The options of a ``lint`` config table and its ``fail_on`` (None when not set);
    raises ConfigError naming ``where`` and the key for an unknown key, rule or severity."""
    from . import LintOptions

    known = {"disabled", "enabled", "severities", "fail_on", "up"}
    for key in table:
        if key not in known:
            raise ConfigError(
                f"{where}: unknown key {key!r} in the lint table; known: {', '.join(sorted(known))}"
            )

    def rules(key: str) -> frozenset[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: lint.{key} must be a list of rule ids")
        unknown = [v for v in value if v not in rule_ids]
        if unknown:
            raise ConfigError(
                f"{where}: lint.{key} names unknown rule(s) {', '.join(unknown)}; "
                "`migrata lint --rules` lists them"
            )
        return frozenset(value)

    severities = table.get("severities", {})
    if not isinstance(severities, Mapping):
        raise ConfigError(f"{where}: lint.severities must be a table of rule = severity")
    checked: dict[str, Severity] = {}
    for rule, severity in severities.items():
        if rule not in rule_ids:
            raise ConfigError(f"{where}: lint.severities names an unknown rule {rule!r}")
        if severity not in SEVERITIES:
            raise ConfigError(
                f"{where}: lint.severities.{rule} must be one of {', '.join(SEVERITIES)}, "
                f"got {severity!r}"
            )
        checked[rule] = cast("Severity", severity)
    fail_on = table.get("fail_on")
    if fail_on is not None and fail_on not in FAIL_ON:
        raise ConfigError(
            f"{where}: lint.fail_on must be one of {', '.join(FAIL_ON)}, got {fail_on!r}"
        )
    options = LintOptions(disabled=rules("disabled"), enabled=rules("enabled"), severities=checked)
    return options, fail_on
