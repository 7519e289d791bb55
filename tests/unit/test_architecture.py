"""Guards of the layering in ARCHITECTURE.md and of the public API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import migrata

SRC = Path(migrata.__file__).parent

# Lowest layer first; a module may import only from its own layer or lower ones.
LAYERS: list[set[str]] = [
    # urls sits at the bottom (not beside config): backends need it to connect and redact.
    # engines is the registry of the engines' descriptors: urls (schemes) and split (the
    # splitters, the transaction rules) read an engine's data through it, and it imports the
    # engines' packages under backends/ only when first asked (see its docstring).
    {
        "models",
        "errors",
        "sqltext",
        "exitcodes",
        "split",
        "urls",
        "events",
        "settings",
        "engines",
        "cache",
    },
    {"backends"},
    {
        "layouts",
        "discovery",
        "planner",
        "history",
        "foreign",
        "runner",
        "config",
        "targets",
        "provision",
        "session",
        "prepare",
        "bookkeeping",
        "lint",
        "linter",
        "scratch",
    },
    {"migrator", "embedded", "check", "squash"},
    {"cli", "output", "testing", "__init__", "__main__"},
]
# Modules that must not touch a database, even lazily.
NO_BACKEND = {"planner", "discovery", "layouts", "split", "sqltext", "models", "events", "lint"}


def _layer_of(top: str) -> int:
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(f"module {top} is in no layer of the architecture test")


def _internal_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = path.relative_to(SRC).parts
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(package[:-1])
            if node.level > 1:
                base = base[: len(base) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            if target:
                found.add(target[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("migrata"):
            parts = node.module.split(".")
            found.add(parts[1] if len(parts) > 1 else "__init__")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("migrata."):
                    found.add(alias.name.split(".")[1])
    return found


def _top(path: Path) -> str:
    parts = path.relative_to(SRC).parts
    return parts[0] if len(parts) > 1 else path.stem


def test_every_module_imports_only_its_own_or_lower_layers() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        top = _top(path)
        for imported in _internal_imports(path):
            if imported == top:
                continue
            if _layer_of(imported) > _layer_of(top):
                offenders.append(f"{path.relative_to(SRC)} imports {imported}")
    assert offenders == []


def test_planner_and_discovery_import_no_backend_or_driver() -> None:
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if _top(path) not in NO_BACKEND:
            continue
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                if name.split(".")[0] in {"psycopg", "sqlite3", "backends"} or "backends" in name:
                    offenders.append(f"{path.relative_to(SRC)}: {name}")
    assert offenders == []


def test_splitting_and_parsing_urls_import_no_connection_code_or_driver() -> None:
    """The engine registry is cheap: reading a URL, splitting a script and deciding its
    transaction import each engine's descriptor, dialect and splitter, never its connection
    module or its driver (SQLite's splitter uses sqlite3's tokenizer, not a connection)."""
    code = (
        "import sys\n"
        "from migrata.models import Script\n"
        "from migrata.split import split_script\n"
        "from migrata.split.transactions import decide_transaction\n"
        "from migrata.urls import parse_url\n"
        "for url in ('postgresql://h/db', 'mysql://h/db', 'chdb:///tmp/x', 'sqlite:///x.db'):\n"
        "    engine = parse_url(url).engine\n"
        "    script = Script(path='x.sql', text='SELECT 1;')\n"
        "    decide_transaction(script, split_script(script, engine), engine)\n"
        "loaded = sorted(m for m in sys.modules if m.endswith('.connection')\n"
        "    or m.split('.')[0] in ('psycopg', 'pymysql', 'clickhouse_connect', 'chdb'))\n"
        "print('LOADED', loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "LOADED []" in out.stdout


def test_public_api_is_explicit_and_sorted() -> None:
    assert list(migrata.__all__) == sorted(migrata.__all__)
    for name in migrata.__all__:
        assert hasattr(migrata, name), name


def test_help_does_not_import_drivers_or_the_parser() -> None:
    code = (
        "import sys\n"
        "from migrata.cli import cli\n"
        "try:\n"
        "    cli.main(args=['--help'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = sorted(m for m in ('psycopg', 'pglast', 'rich', 'pymysql', 'chdb',\n"
        "        'clickhouse_connect') if m in sys.modules)\n"
        "    print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_the_cli_keeps_no_state_between_invocations() -> None:
    """What one invocation learns (secrets to scrub, the target being run, the log format)
    lives in its own object: cli.py binds no module-level list, dict or set that code fills."""
    tree = ast.parse((SRC / "cli.py").read_text(encoding="utf-8"))
    mutable = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(
            node.value, ast.List | ast.Set | ast.ListComp | ast.SetComp
        ):
            mutable.append(ast.unparse(node)[:60])
        if isinstance(node, ast.Global | ast.Nonlocal):
            mutable.append(ast.unparse(node))
    assert mutable == []
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]
    assert not any(isinstance(n, ast.Global) for f in functions for n in ast.walk(f))


def test_the_readme_map_of_packages_is_the_layering_tested_here() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("**The packages, and what each may import.**")
    rows = [
        line
        for line in readme[start:].splitlines()[1:40]
        if line.startswith("| ") and line[2].isdigit()
    ]
    listed = []
    for row in rows:
        modules = row.split("|")[2]
        listed.append({m.strip("` ") for m in modules.split(",")})
    documented = [layer - {"__init__", "__main__"} for layer in LAYERS]
    assert listed == documented
