"""The README's table of lint rules is the rules' own."""

from __future__ import annotations

from pathlib import Path

from migrata.lint import RULES


def rules_table() -> str:
    """The README's table of rules, rendered from :data:`migrata.lint.RULES`."""
    rows = [
        "| rule | severity | engines | lock | rewrites / scans | what it finds |",
        "|---|---|---|---|---|---|",
    ]
    for rule in RULES.values():
        effect = "rewrites" if rule.rewrites else ""
        if rule.scans:
            effect = f"{effect}, scans" if effect else "scans"
        severity = rule.severity + (" (opt-in)" if rule.opt_in else "")
        rows.append(
            f"| `{rule.id}` | {severity} | {', '.join(rule.dialects)} | {rule.lock or '—'} | "
            f"{effect or '—'} | {rule.summary} |"
        )
    return "\n".join(rows) + "\n"


def test_the_readme_lists_every_rule() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    table = rules_table()
    assert table in readme, "README.md's rule table differs from the rules; it is:\n" + table
