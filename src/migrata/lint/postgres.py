"""PostgreSQL: what each statement locks, rewrites and scans, and the rules over it.

Everything is read from pglast's AST (PostgreSQL's own parser), never from the text. pglast is
imported inside the functions that parse, so importing the linter stays cheap.

Lock levels are PostgreSQL 15's (``AlterTableGetLockLevel`` in tablecmds.c and the "Explicit
Locking" chapter): a statement's lock is the strongest one it takes on a table.

"New" objects are those created earlier in the same lint run: nobody else can see them yet (or
they are empty), so locking, rewriting or scanning them costs nothing and no rule flags it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .model import LOCK_MODES, Catalog, Hit, Severity, stronger_lock

AX = "ACCESS EXCLUSIVE"
SUE = "SHARE UPDATE EXCLUSIVE"
SRE = "SHARE ROW EXCLUSIVE"
BATCH = 10000

#: Functions known not to be volatile: a default calling only these (and constants, operators,
#: casts) is evaluated once when the column is added (PostgreSQL 11+), no rewrite.
_NON_VOLATILE = frozenset(
    [
        "now",
        "transaction_timestamp",
        "statement_timestamp",
        "current_date",
        "current_time",
        "current_timestamp",
        "localtime",
        "localtimestamp",
        "lower",
        "upper",
        "length",
        "char_length",
        "btrim",
        "ltrim",
        "rtrim",
        "trim",
        "concat",
        "concat_ws",
        "coalesce",
        "nullif",
        "greatest",
        "least",
        "abs",
        "round",
        "floor",
        "ceil",
        "to_char",
        "to_date",
        "to_timestamp",
        "to_number",
        "make_interval",
        "make_date",
        "make_timestamp",
        "make_timestamptz",
        "date_trunc",
        "date_part",
        "extract",
        "jsonb_build_object",
        "jsonb_build_array",
        "json_build_object",
        "json_build_array",
        "to_jsonb",
        "to_json",
        "array_length",
        "cardinality",
        "md5",
        "current_user",
        "current_setting",
        "current_schema",
        "session_user",
        "timezone",
        "interval",
    ]
)
#: Volatile built-ins, named in messages as such; any other function is treated as volatile
#: too, PostgreSQL's default for CREATE FUNCTION.
_VOLATILE = frozenset(
    [
        "random",
        "clock_timestamp",
        "timeofday",
        "gen_random_uuid",
        "uuid_generate_v1",
        "uuid_generate_v1mc",
        "uuid_generate_v4",
        "uuidv4",
        "uuidv7",
        "nextval",
        "setval",
        "txid_current",
        "pg_current_xact_id",
        "random_normal",
    ]
)
_TYPE_ALIASES = {
    "int": "int4",
    "integer": "int4",
    "smallint": "int2",
    "bigint": "int8",
    "character varying": "varchar",
    "decimal": "numeric",
    "character": "bpchar",
    "char": "bpchar",
    "bool": "boolean",
    "float8": "double precision",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
}
_SERIALS = {"serial": "int4", "serial4": "int4", "bigserial": "int8", "serial8": "int8",
            "smallserial": "int2", "serial2": "int2"}  # fmt: skip
_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*\Z")


@dataclass(frozen=True, slots=True)
class TypeSig:
    """A column type as the rules compare it: base name (aliases resolved) and modifiers."""

    name: str
    mods: tuple[int, ...] = ()
    array: bool = False


@dataclass(slots=True)
class Facts:
    """What a statement does to tables on PostgreSQL."""

    lock: str | None = None
    tables: list[str] = field(default_factory=list)
    rewrites: bool = False
    scans: bool = False

    def take(self, lock: str | None, *tables: str) -> None:
        self.lock = stronger_lock(self.lock, lock)
        for table in tables:
            if table not in self.tables:
                self.tables.append(table)


@dataclass(slots=True)
class RunState:
    """What a lint run has learnt from the statements before the current one."""

    server_version: int | None = None
    catalog: Catalog | None = None
    #: Tables created in this run (keys ``schema.table`` and bare ``table``, lower-case).
    new_tables: set[str] = field(default_factory=set)
    index_table: dict[str, str] = field(default_factory=dict)
    new_indexes: set[str] = field(default_factory=set)
    columns: dict[tuple[str, str], TypeSig] = field(default_factory=dict)
    #: CHECK constraints added NOT VALID: name → (table, the column of a ``col IS NOT NULL``).
    not_valid: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    #: (table, column) with a validated ``CHECK (col IS NOT NULL)``.
    not_null_checks: set[tuple[str, str]] = field(default_factory=set)
    # -- the current transaction: reset at its end
    #: An explicit BEGIN in the file is open.
    in_block: bool = False
    #: The statements run inside one transaction (the migration's, or an explicit block).
    in_transaction: bool = False
    #: migrata was told to run the file in a transaction (``-- migrata: transaction``).
    forced_transaction: bool = False
    ddl_tables: set[str] = field(default_factory=set)
    added_not_valid: set[str] = field(default_factory=set)

    def is_new(self, table: str) -> bool:
        return table in self.new_tables or table.rsplit(".", 1)[-1] in self.new_tables

    def add_new(self, table: str) -> None:
        self.new_tables.add(table)
        self.new_tables.add(table.rsplit(".", 1)[-1])

    def describe(self, table: str) -> str:
        """```table``` with what the catalog says of its size."""
        info = self.rows_bytes(table)
        if info is None:
            return f"`{table}`"
        rows, size = info
        return f"`{table}` (~{_count(rows)} rows, {_size(size)})"

    def rows_bytes(self, table: str) -> tuple[int, int] | None:
        if self.catalog is None:
            return None
        info = self.catalog.tables.get(table) or self.catalog.tables.get(table.rsplit(".", 1)[-1])
        return None if info is None else (info.rows, info.bytes)

    def at_least(self, version: int) -> bool:
        """Whether the server is ``version`` or newer; an unknown server is a current one."""
        return self.server_version is None or self.server_version >= version

    def end_transaction(self) -> None:
        self.ddl_tables.clear()
        self.added_not_valid.clear()


def _count(rows: int) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if rows >= size:
            return f"{rows / size:.3g} {unit}"
    return str(rows)


def _size(n: int) -> str:
    for size, unit in ((1 << 40, "TB"), (1 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "kB")):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


# -- names -------------------------------------------------------------------------------


def quote(name: str) -> str:
    """An identifier as SQL, quoted only when it has to be."""
    from pglast.keywords import COL_NAME_KEYWORDS, RESERVED_KEYWORDS, TYPE_FUNC_NAME_KEYWORDS

    if _PLAIN_NAME.match(name) and name not in RESERVED_KEYWORDS | TYPE_FUNC_NAME_KEYWORDS | (
        COL_NAME_KEYWORDS
    ):
        return name
    return '"' + name.replace('"', '""') + '"'


def table_key(rangevar: Any) -> str:
    """``schema.table`` (or ``table``), lower-case: how tables are keyed and named."""
    name = str(rangevar.relname).lower()
    return f"{str(rangevar.schemaname).lower()}.{name}" if rangevar.schemaname else name


def table_sql(rangevar: Any) -> str:
    name = quote(rangevar.relname)
    return f"{quote(rangevar.schemaname)}.{name}" if rangevar.schemaname else name


def deparse(node: Any) -> str:
    from pglast.stream import RawStream

    return str(RawStream()(node))


def _name(node: Any) -> str:
    return str(node.sval) if hasattr(node, "sval") else str(node)


def _names(nodes: Any) -> list[str]:
    return [_name(n) for n in nodes or ()]


def type_sig(type_name: Any) -> TypeSig:
    names = [n.lower() for n in _names(type_name.names)]
    base = names[-1] if names else ""
    base = _TYPE_ALIASES.get(base, base)
    mods = []
    for mod in type_name.typmods or ():
        value = getattr(getattr(mod, "val", None), "ival", None)
        if isinstance(value, int):
            mods.append(value)
    return TypeSig(base, tuple(mods), bool(type_name.arrayBounds))


def rewrites_type(old: TypeSig, new: TypeSig) -> bool:
    """Whether changing a column from ``old`` to ``new`` rewrites the table (PostgreSQL skips
    the rewrite when the cast is binary coercible and the new modifier accepts every value)."""
    if old == new:
        return False
    if old.array != new.array:
        return True
    if old.name in {"varchar", "text"} and new.name == "text":
        return False
    if old.name in {"varchar", "text"} and new.name == "varchar":
        if not new.mods:
            return False
        return not (old.name == "varchar" and old.mods and new.mods[0] >= old.mods[0])
    if old.name == "numeric" and new.name == "numeric":
        if not new.mods:
            return False
        if not old.mods:
            return True
        old_scale = old.mods[1] if len(old.mods) > 1 else 0
        new_scale = new.mods[1] if len(new.mods) > 1 else 0
        return not (new.mods[0] >= old.mods[0] and new_scale == old_scale)
    if old.name in {"varbit", "bit varying"} and new.name == old.name:
        return bool(new.mods) and (not old.mods or new.mods[0] < old.mods[0])
    return not (old.name == "cidr" and new.name == "inet")


def volatile_calls(expr: Any) -> list[str]:
    """The functions ``expr`` calls that are (or may be) volatile."""
    from pglast import ast
    from pglast.visitors import Visitor

    found: list[str] = []

    class Calls(Visitor):
        def visit_FuncCall(self, ancestors: Any, node: Any) -> None:
            name = _names(node.funcname)[-1].lower()
            if name not in _NON_VOLATILE:
                found.append(name)

    Calls()(ast.SelectStmt(targetList=(ast.ResTarget(val=expr),)))
    return found


def is_not_null_check(expr: Any) -> str | None:
    """The column of a ``col IS NOT NULL`` check, else None."""
    from pglast import ast, enums

    if (
        isinstance(expr, ast.NullTest)
        and expr.nulltesttype == enums.NullTestType.IS_NOT_NULL
        and isinstance(expr.arg, ast.ColumnRef)
    ):
        fields = _names(expr.arg.fields)
        return fields[-1] if fields else None
    return None


def backfill(table: str, column: str, value: str) -> str:
    return (
        f"-- backfill in batches, each in its own transaction, until it updates 0 rows:\n"
        f"UPDATE {table} SET {column} = {value} WHERE ctid IN "
        f"(SELECT ctid FROM {table} WHERE {column} IS NULL LIMIT {BATCH});"
    )


def not_null_steps(table: str, key: str, column: str) -> str:
    bare = key.rsplit(".", 1)[-1]
    check = quote(f"{bare}_{column}_not_null"[:63])
    col = quote(column)
    return (
        f"ALTER TABLE {table} ADD CONSTRAINT {check} CHECK ({col} IS NOT NULL) NOT VALID;\n"
        f"-- in a later migration (VALIDATE takes only SHARE UPDATE EXCLUSIVE):\n"
        f"ALTER TABLE {table} VALIDATE CONSTRAINT {check};\n"
        f"ALTER TABLE {table} ALTER COLUMN {col} SET NOT NULL;\n"
        f"ALTER TABLE {table} DROP CONSTRAINT {check};"
    )


OWN_MIGRATION = "-- in a migration of its own: CONCURRENTLY cannot run inside a transaction\n"


# -- statements ----------------------------------------------------------------------------


def analyse(node: Any, state: RunState) -> tuple[Facts, list[Hit]]:
    """What ``node`` (a parsed statement) locks and costs, the rules' hits on it, and what
    the run learns from it (tables and indexes it creates, constraints it validates)."""
    from pglast import ast

    facts = Facts()
    hits: list[Hit] = []
    handler = _HANDLERS.get(type(node).__name__)
    if handler is not None:
        handler(node, state, facts, hits)
    if isinstance(node, ast.TransactionStmt):
        _transaction(node, state)
    return facts, hits


def _transaction(node: Any, state: RunState) -> None:
    from pglast import enums

    kind = node.kind
    if kind in (
        enums.TransactionStmtKind.TRANS_STMT_BEGIN,
        enums.TransactionStmtKind.TRANS_STMT_START,
    ):
        state.in_block = True
        state.in_transaction = True
    elif kind in (
        enums.TransactionStmtKind.TRANS_STMT_COMMIT,
        enums.TransactionStmtKind.TRANS_STMT_ROLLBACK,
    ):
        state.in_block = False
        state.end_transaction()


def _create_table(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    from pglast import ast, enums

    key = table_key(node.relation)
    state.add_new(key)
    facts.take(AX, key)
    for parent in node.inhRelations or ():
        if node.partbound is not None:
            facts.take(AX, table_key(parent))
    for element in node.tableElts or ():
        if isinstance(element, ast.ColumnDef):
            _record_column(key, element, state)
            _style(key, table_sql(node.relation), element, state, hits, new=True)
            for constraint in element.constraints or ():
                if constraint.contype == enums.ConstrType.CONSTR_FOREIGN and constraint.pktable:
                    facts.take(SRE, table_key(constraint.pktable))
        elif isinstance(element, ast.Constraint):
            if element.contype == enums.ConstrType.CONSTR_FOREIGN and element.pktable:
                facts.take(SRE, table_key(element.pktable))
            if element.contype == enums.ConstrType.CONSTR_PRIMARY:
                _int_key(key, table_sql(node.relation), _names(element.keys), state, hits)


def _create_table_as(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    key = table_key(node.into.rel)
    state.add_new(key)
    facts.take(AX, key)


def _record_column(table: str, column: Any, state: RunState) -> None:
    if column.colname and column.typeName is not None:
        state.columns[(table, str(column.colname))] = type_sig(column.typeName)


def _style(
    key: str, table: str, column: Any, state: RunState, hits: list[Hit], *, new: bool
) -> None:
    """Rules on a column's definition that hold for new tables too (types, keys)."""
    from pglast import enums

    sig = type_sig(column.typeName) if column.typeName is not None else None
    if sig is not None and sig.name == "json":
        col = quote(column.colname)
        verb = "ADD COLUMN" if not new else "the column"
        hits.append(
            Hit(
                "prefer-jsonb",
                f"{verb} {col} of {state.describe(key)} is json: no equality operator "
                "(SELECT DISTINCT, GROUP BY and UNION fail) and re-parsed on every access",
                f"{col} jsonb",
                (key,),
                costly=False,
            )
        )
    if sig is not None and sig.name in _PREFERRED and not sig.array:
        col = quote(column.colname)
        rule, instead, why = _PREFERRED[sig.name]
        hits.append(
            Hit(
                rule,
                f"the column {col} of {state.describe(key)} is {sig.name}: {why}",
                f"{col} {instead}",
                (key,),
                costly=False,
            )
        )
    for constraint in column.constraints or ():
        if constraint.contype == enums.ConstrType.CONSTR_PRIMARY:
            _int_key(key, table, [column.colname], state, hits)


#: Column types with a usual better choice: (rule, the type instead, why).
_PREFERRED = {
    "timestamp": (
        "prefer-timestamptz",
        "timestamptz",
        "it stores no time zone, so its values change meaning with the session's TimeZone",
    ),
    "bpchar": (
        "prefer-text",
        "text",
        "char(n) pads with spaces and is no faster than text or varchar",
    ),
}


def _drop_database(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    name = quote(str(node.dbname))
    hits.append(
        Hit(
            "drop-database",
            f"DROP DATABASE {name} in a migration deletes a whole database, data and all",
            f"-- drop it by hand, after a backup, if it really must go:\nDROP DATABASE {name};",
            (),
            costly=False,
        )
    )


def _int_key(key: str, table: str, columns: list[str], state: RunState, hits: list[Hit]) -> None:
    for column in columns:
        sig = state.columns.get((key, column))
        if sig is not None and sig.name in {
            "int4",
            "int2",
            "serial",
            "serial4",
            "smallserial",
            "serial2",
        }:
            hits.append(
                Hit(
                    "prefer-bigint-key",
                    f"primary key {quote(column)} of {state.describe(key)} is {sig.name}: "
                    "it runs out at 2,147,483,647 and widening it later rewrites the table",
                    f"{quote(column)} bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
                    (key,),
                    costly=False,
                )
            )


def _index(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    key = table_key(node.relation)
    new = state.is_new(key)
    facts.take(SUE if node.concurrent else "SHARE", key)
    facts.scans = not new
    if node.idxname:
        state.index_table[str(node.idxname).lower()] = key
        if new:
            state.new_indexes.add(str(node.idxname).lower())
    if node.concurrent:
        _concurrently(node, state, hits, key)
        return
    if new:
        return
    if state.in_transaction:
        state.ddl_tables.add(key)  # its SHARE lock is held until the transaction ends
    node.concurrent = True
    what = "UNIQUE INDEX" if node.unique else "INDEX"
    hits.append(
        Hit(
            "index-not-concurrent",
            f"CREATE {what} without CONCURRENTLY blocks writes to {state.describe(key)} "
            "(SHARE lock) while it builds",
            OWN_MIGRATION + deparse(node) + ";",
            (key,),
        )
    )


def _concurrently(node: Any, state: RunState, hits: list[Hit], key: str | None) -> None:
    if state.in_block or state.forced_transaction:
        where = "an explicit BEGIN … COMMIT" if state.in_block else "`-- migrata: transaction`"
        hits.append(
            Hit(
                "concurrently-in-transaction",
                f"{deparse(node).split(' ', 2)[0]} … CONCURRENTLY inside {where} fails: "
                "CONCURRENTLY cannot run in a transaction block",
                "-- migrata: no-transaction\n" + deparse(node) + ";",
                (key,) if key else (),
                costly=False,
            )
        )


def _drop(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    from pglast import enums

    kind = node.removeType
    for obj in node.objects or ():
        parts = [p.lower() for p in _names(obj)] if isinstance(obj, tuple | list) else []
        name = ".".join(parts)
        if kind == enums.ObjectType.OBJECT_TABLE:
            facts.take(AX, name)
            if state.is_new(name):
                continue
            shown = ".".join(quote(p) for p in parts)
            hits.append(
                Hit(
                    "drop-table",
                    f"DROP TABLE {state.describe(name)}: code still using it fails",
                    "-- first deploy code that no longer reads or writes the table, then:\n"
                    f"DROP TABLE {shown};",
                    (name,),
                    costly=False,
                )
            )
        elif kind == enums.ObjectType.OBJECT_INDEX:
            table = state.index_table.get(name) or state.index_table.get(parts[-1] if parts else "")
            tables = (table,) if table else ()
            facts.take(SUE if node.concurrent else AX, *tables)
            if node.concurrent:
                _concurrently(node, state, hits, table)
                continue
            if name in state.new_indexes or (parts and parts[-1] in state.new_indexes):
                continue
            if table is not None and state.is_new(table):
                continue
            on = f" on {state.describe(table)}" if table else ""
            node.concurrent = True
            hits.append(
                Hit(
                    "drop-index-not-concurrent",
                    f"DROP INDEX {name} takes ACCESS EXCLUSIVE{on}: reads and writes wait",
                    OWN_MIGRATION
                    + "DROP INDEX CONCURRENTLY "
                    + ("IF EXISTS " if node.missing_ok else "")
                    + ".".join(quote(p) for p in parts)
                    + ";",
                    tables,
                )
            )
            node.concurrent = False
        elif kind == enums.ObjectType.OBJECT_TRIGGER and len(parts) >= 2:
            facts.take(AX, ".".join(parts[:-1]))


def _alter_table(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    from pglast import enums

    if node.objtype not in (enums.ObjectType.OBJECT_TABLE, enums.ObjectType.OBJECT_MATVIEW):
        if node.objtype == enums.ObjectType.OBJECT_INDEX:
            facts.take(AX)  # on the index itself; its table is not named here
        return
    key = table_key(node.relation)
    table = table_sql(node.relation)
    new = state.is_new(key)
    facts.take(None, key)
    for cmd in node.cmds or ():
        _alter_cmd(cmd, key, table, new, state, facts, hits)
    if not new and state.in_transaction:
        state.ddl_tables.add(key)


_SUE_CMDS = {
    "AT_SetStatistics",
    "AT_SetOptions",
    "AT_ResetOptions",
    "AT_ClusterOn",
    "AT_DropCluster",
    "AT_SetRelOptions",
    "AT_ResetRelOptions",
    "AT_ReplaceRelOptions",
    "AT_ValidateConstraint",
    "AT_AttachPartition",
}
_SRE_CMDS = {
    "AT_EnableTrig", "AT_EnableAlwaysTrig", "AT_EnableReplicaTrig", "AT_DisableTrig",
    "AT_EnableTrigAll", "AT_DisableTrigAll", "AT_EnableTrigUser", "AT_DisableTrigUser",
    "AT_AlterConstraint",
}  # fmt: skip
_REWRITE_CMDS = {"AT_SetLogged", "AT_SetUnLogged", "AT_SetAccessMethod", "AT_SetTableSpace"}


def _alter_cmd(
    cmd: Any, key: str, table: str, new: bool, state: RunState, facts: Facts, hits: list[Hit]
) -> None:
    from pglast import enums

    sub = cmd.subtype.name
    if sub in _SUE_CMDS:
        facts.take(SUE)
    elif sub in _SRE_CMDS:
        facts.take(SRE)
    elif sub == "AT_DetachPartition" and getattr(cmd.def_, "concurrent", False):
        facts.take(SUE)
    elif sub == "AT_AddConstraint" and cmd.def_.contype == enums.ConstrType.CONSTR_FOREIGN:
        facts.take(SRE)
    else:
        facts.take(AX)
    if sub in _REWRITE_CMDS and not new:
        facts.rewrites = True
    if sub == "AT_AddColumn":
        _add_column(cmd.def_, key, table, new, state, facts, hits)
    elif sub == "AT_AlterColumnType":
        _alter_type(cmd, key, table, new, state, facts, hits)
    elif sub == "AT_SetNotNull":
        _set_not_null(str(cmd.name), key, table, new, state, facts, hits)
    elif sub == "AT_AddConstraint":
        _add_constraint(cmd.def_, key, table, new, state, facts, hits)
    elif sub == "AT_ValidateConstraint":
        _validate(str(cmd.name), key, table, new, state, facts, hits)
    elif sub == "AT_DropColumn" and not new:
        col = quote(str(cmd.name))
        hits.append(
            Hit(
                "drop-column",
                f"DROP COLUMN {col} of {state.describe(key)}: code still reading it fails "
                "(ORMs that list every column included)",
                "-- first deploy code that no longer reads or writes the column, then:\n"
                f"ALTER TABLE {table} DROP COLUMN {col};",
                (key,),
                costly=False,
            )
        )


def _add_column(
    column: Any, key: str, table: str, new: bool, state: RunState, facts: Facts, hits: list[Hit]
) -> None:
    from pglast import enums

    _record_column(key, column, state)
    _style(key, table, column, state, hits, new=new)
    col = quote(str(column.colname))
    type_text = deparse(column.typeName) if column.typeName is not None else "<type>"
    sig = type_sig(column.typeName) if column.typeName is not None else TypeSig("")
    not_null = bool(column.is_not_null)
    default = None
    stored = False
    generation = "<the generation expression>"
    identity = False
    checks = []
    for constraint in column.constraints or ():
        kind = constraint.contype
        if kind == enums.ConstrType.CONSTR_NOTNULL:
            not_null = True
        elif kind == enums.ConstrType.CONSTR_DEFAULT:
            default = constraint.raw_expr
        elif kind == enums.ConstrType.CONSTR_GENERATED:
            stored = constraint.generated_kind != "v"
            generation = deparse(constraint.raw_expr)
        elif kind == enums.ConstrType.CONSTR_IDENTITY:
            identity = True
        elif kind in (
            enums.ConstrType.CONSTR_FOREIGN,
            enums.ConstrType.CONSTR_CHECK,
            enums.ConstrType.CONSTR_UNIQUE,
            enums.ConstrType.CONSTR_PRIMARY,
        ):
            checks.append(constraint)
            if kind == enums.ConstrType.CONSTR_FOREIGN and constraint.pktable:
                facts.take(SRE, table_key(constraint.pktable))
    serial = sig.name in _SERIALS
    if new:
        return
    desc = state.describe(key)
    plain = f"ALTER TABLE {table} ADD COLUMN {col} {type_text};"
    if serial or identity:
        facts.rewrites = True
        what = sig.name if serial else "an identity column"
        base = _SERIALS.get(sig.name, type_text)
        hits.append(
            Hit(
                "add-column-serial",
                f"ADD COLUMN {col} {what} fills every existing row of {desc}: "
                "rewrites it under ACCESS EXCLUSIVE",
                f"ALTER TABLE {table} ADD COLUMN {col} {'bigint' if base == 'int8' else base};\n"
                f"-- then a sequence as its default and a batched backfill:\n"
                f"CREATE SEQUENCE {quote(key.rsplit('.', 1)[-1] + '_' + str(column.colname) + '_seq')}"
                f" OWNED BY {table}.{col};\n"
                f"ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT "
                f"nextval('{key.rsplit('.', 1)[-1]}_{column.colname}_seq');\n"
                + backfill(table, col, f"nextval('{key.rsplit('.', 1)[-1]}_{column.colname}_seq')"),
                (key,),
            )
        )
    elif stored:
        facts.rewrites = True
        hits.append(
            Hit(
                "add-column-stored-generated",
                f"ADD COLUMN {col} GENERATED … STORED computes every row of {desc}: "
                "rewrites it under ACCESS EXCLUSIVE",
                f"{plain}\n-- fill it from a trigger for new rows, then:\n"
                + backfill(table, col, generation),
                (key,),
            )
        )
    elif default is not None and not _is_null(default):
        volatile = volatile_calls(default)
        old_server = not state.at_least(110000)
        if volatile or old_server:
            facts.rewrites = True
            expr = deparse(default)
            why = (
                f"calls {', '.join(sorted(set(volatile)))}() (volatile)"
                if volatile
                else f"is a default before PostgreSQL 11 (server {state.server_version})"
            )
            steps = (
                f"{plain}\nALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {expr};\n"
                + backfill(table, col, expr)
            )
            if not_null:
                steps += "\n" + not_null_steps(table, key, str(column.colname))
            hits.append(
                Hit(
                    "add-column-volatile-default",
                    f"ADD COLUMN {col} DEFAULT {expr} {why}: rewrites {desc} "
                    "under ACCESS EXCLUSIVE",
                    steps,
                    (key,),
                )
            )
    elif not_null and default is None:
        hits.append(
            Hit(
                "add-column-required",
                f"ADD COLUMN {col} NOT NULL without a default fails on {desc} when it has rows",
                f"ALTER TABLE {table} ADD COLUMN {col} {type_text} NOT NULL DEFAULT <value>;"
                "  -- PostgreSQL 11+: a constant default does not rewrite\n"
                f"-- or: {plain}\n"
                + backfill(table, col, "<value>")
                + "\n"
                + not_null_steps(table, key, str(column.colname)),
                (key,),
            )
        )
    for constraint in checks:
        if constraint.contype in (enums.ConstrType.CONSTR_UNIQUE, enums.ConstrType.CONSTR_PRIMARY):
            facts.scans = True
            idx = quote(f"{key.rsplit('.', 1)[-1]}_{column.colname}_key"[:63])
            kind = (
                "UNIQUE" if constraint.contype == enums.ConstrType.CONSTR_UNIQUE else "PRIMARY KEY"
            )
            hits.append(
                Hit(
                    "constraint-builds-index",
                    f"ADD COLUMN {col} {kind} builds an index on {desc} under ACCESS EXCLUSIVE",
                    f"{plain}\n{OWN_MIGRATION}CREATE UNIQUE INDEX CONCURRENTLY {idx} ON {table} ({col});\n"
                    f"ALTER TABLE {table} ADD CONSTRAINT {idx} {kind} USING INDEX {idx};",
                    (key,),
                )
            )
        elif default is not None or constraint.contype == enums.ConstrType.CONSTR_FOREIGN:
            facts.scans = True
            ref = (table_key(constraint.pktable),) if constraint.pktable else ()
            constraint.skip_validation = True
            constraint.initially_valid = False
            name = constraint.conname or (
                f"{key.rsplit('.', 1)[-1]}_{column.colname}_"
                + ("fkey" if constraint.contype == enums.ConstrType.CONSTR_FOREIGN else "check")
            )
            constraint.conname = None
            body = deparse(constraint)
            hits.append(
                Hit(
                    "constraint-not-valid",
                    f"ADD COLUMN {col} with {body.split(' ', 1)[0]} validates every row of "
                    f"{desc} under lock",
                    f"{plain}\nALTER TABLE {table} ADD CONSTRAINT {quote(name)} "
                    + _table_constraint(body, col)
                    + f";\n-- in a later migration:\nALTER TABLE {table} VALIDATE CONSTRAINT {quote(name)};",
                    (key, *ref),
                    lock=SRE if ref else AX,
                )
            )


def _table_constraint(column_form: str, col: str) -> str:
    """A column constraint's text as a table constraint on ``col``."""
    if column_form.startswith("REFERENCES"):
        return f"FOREIGN KEY ({col}) {column_form}"
    return column_form


def _is_null(expr: Any) -> bool:
    from pglast import ast

    return isinstance(expr, ast.A_Const) and bool(expr.isnull)


def _alter_type(
    cmd: Any, key: str, table: str, new: bool, state: RunState, facts: Facts, hits: list[Hit]
) -> None:
    column = str(cmd.name)
    definition = cmd.def_
    new_sig = type_sig(definition.typeName)
    old_sig = state.columns.get((key, column))
    state.columns[(key, column)] = new_sig
    if new:
        return
    using = definition.raw_default
    severity: Severity | None = None
    if using is not None:
        rewrite = True
        why = "with USING"
    elif old_sig is not None:
        rewrite = rewrites_type(old_sig, new_sig)
        why = f"from {old_sig.name} to {new_sig.name}"
    else:
        rewrite = True
        why = f"to {deparse(definition.typeName)}"
        if new_sig.name in {"text", "varchar", "numeric"} and not (
            new_sig.name == "varchar" and new_sig.mods
        ):
            # Widening varchar/numeric does not rewrite; the old type is not known here.
            severity = "info"
            why += " (no rewrite if it only widens a varchar or numeric; the old type is unknown)"
    if not rewrite:
        return
    facts.rewrites = True
    col = quote(column)
    type_text = deparse(definition.typeName)
    new_col = quote(f"{column}_new")
    hits.append(
        Hit(
            "alter-column-type",
            f"ALTER COLUMN {col} TYPE {why} rewrites {state.describe(key)} and its indexes "
            "under ACCESS EXCLUSIVE",
            f"ALTER TABLE {table} ADD COLUMN {new_col} {type_text};\n"
            f"-- deploy code that writes both columns (or a trigger), then:\n"
            + backfill(table, new_col, f"{col}::{type_text}").replace(
                f"WHERE {new_col} IS NULL", f"WHERE {new_col} IS NULL AND {col} IS NOT NULL"
            )
            + f"\n-- deploy code that reads {new_col}, then swap the names in one transaction:\n"
            f"ALTER TABLE {table} RENAME COLUMN {col} TO {quote(column + '_old')};\n"
            f"ALTER TABLE {table} RENAME COLUMN {new_col} TO {col};",
            (key,),
            severity=severity,
        )
    )


def _set_not_null(
    column: str, key: str, table: str, new: bool, state: RunState, facts: Facts, hits: list[Hit]
) -> None:
    if new:
        return
    if state.at_least(120000) and (key, column) in state.not_null_checks:
        return  # PostgreSQL 12+ proves NOT NULL from the validated CHECK: no scan
    facts.scans = True
    if state.at_least(120000):
        safe = not_null_steps(table, key, column)
    else:
        safe = (
            f"-- before PostgreSQL 12 SET NOT NULL always scans; keep the column nullable with\n"
            f"ALTER TABLE {table} ADD CONSTRAINT "
            f"{quote(key.rsplit('.', 1)[-1] + '_' + column + '_not_null')} "
            f"CHECK ({quote(column)} IS NOT NULL) NOT VALID;"
        )
    hits.append(
        Hit(
            "set-not-null",
            f"SET NOT NULL on {quote(column)} scans all of {state.describe(key)} "
            "under ACCESS EXCLUSIVE",
            safe,
            (key,),
        )
    )


def _add_constraint(
    constraint: Any, key: str, table: str, new: bool, state: RunState, facts: Facts, hits: list[Hit]
) -> None:
    from pglast import enums

    kind = constraint.contype
    bare = key.rsplit(".", 1)[-1]
    if kind == enums.ConstrType.CONSTR_FOREIGN and constraint.pktable:
        facts.take(SRE, table_key(constraint.pktable))
    if kind in (enums.ConstrType.CONSTR_FOREIGN, enums.ConstrType.CONSTR_CHECK):
        column = (
            is_not_null_check(constraint.raw_expr)
            if kind == enums.ConstrType.CONSTR_CHECK
            else None
        )
        name = constraint.conname or (
            f"{bare}_{'_'.join(_names(constraint.fk_attrs))}_fkey"
            if kind == enums.ConstrType.CONSTR_FOREIGN
            else f"{bare}_check"
        )
        if constraint.skip_validation:
            state.not_valid[name.lower()] = (key, column)
            if state.in_transaction:
                state.added_not_valid.add(name.lower())
            return
        if column is not None:
            state.not_null_checks.add((key, column))
        if new:
            return
        facts.scans = True
        constraint.skip_validation = True
        constraint.initially_valid = False
        constraint.conname = name
        what = "FOREIGN KEY" if kind == enums.ConstrType.CONSTR_FOREIGN else "CHECK"
        ref = (table_key(constraint.pktable),) if constraint.pktable else ()
        lock = SRE if ref else AX
        on = f" and {state.describe(ref[0])}" if ref else ""
        hits.append(
            Hit(
                "constraint-not-valid",
                f"ADD {what} without NOT VALID checks every row of {state.describe(key)} "
                f"holding {lock} on it{on}",
                f"ALTER TABLE {table} ADD {deparse(constraint)};\n"
                f"-- in a later migration (takes only SHARE UPDATE EXCLUSIVE):\n"
                f"ALTER TABLE {table} VALIDATE CONSTRAINT {quote(name)};",
                (key, *ref),
                lock=lock,
            )
        )
        return
    if kind in (
        enums.ConstrType.CONSTR_UNIQUE,
        enums.ConstrType.CONSTR_PRIMARY,
        enums.ConstrType.CONSTR_EXCLUSION,
    ):
        if constraint.indexname or new:
            return
        facts.scans = True
        columns = _names(constraint.keys)
        if kind == enums.ConstrType.CONSTR_PRIMARY:
            _int_key(key, table, columns, state, hits)
        cols = ", ".join(quote(c) for c in columns)
        if kind == enums.ConstrType.CONSTR_EXCLUSION:
            safe = (
                "-- an exclusion constraint has no USING INDEX form: build it when the table is "
                "quiet, failing fast instead of queueing behind (and blocking) other sessions:\n"
                f"SET lock_timeout = '2s';\nALTER TABLE {table} ADD {deparse(constraint)};"
            )
            what = "EXCLUDE"
        else:
            what = "UNIQUE" if kind == enums.ConstrType.CONSTR_UNIQUE else "PRIMARY KEY"
            suffix = (
                "pkey" if kind == enums.ConstrType.CONSTR_PRIMARY else "_".join(columns) + "_key"
            )
            name = constraint.conname or (f"{bare}_{suffix}")
            idx = quote(name[:63])
            safe = (
                f"{OWN_MIGRATION}CREATE UNIQUE INDEX CONCURRENTLY {idx} ON {table} ({cols});\n"
                f"-- then:\nALTER TABLE {table} ADD CONSTRAINT {idx} {what} USING INDEX {idx};"
            )
        hits.append(
            Hit(
                "constraint-builds-index",
                f"ADD {what} builds an index on {state.describe(key)} under ACCESS EXCLUSIVE: "
                "reads and writes wait while it builds",
                safe,
                (key,),
            )
        )


def _validate(
    name: str, key: str, table: str, new: bool, state: RunState, facts: Facts, hits: list[Hit]
) -> None:
    found = state.not_valid.get(name.lower())
    if found is not None and found[1] is not None:
        state.not_null_checks.add((found[0], found[1]))
    if new:
        return
    facts.scans = True
    if name.lower() in state.added_not_valid:
        hits.append(
            Hit(
                "validate-in-same-transaction",
                f"VALIDATE CONSTRAINT {quote(name)} runs in the transaction that added it NOT "
                f"VALID: the ADD's lock on {state.describe(key)} is held during the scan",
                f"-- in a later migration:\nALTER TABLE {table} VALIDATE CONSTRAINT {quote(name)};",
                (key,),
            )
        )


def _rename(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    from pglast import enums

    kind = node.renameType
    if node.relation is None:
        return
    key = table_key(node.relation)
    table = table_sql(node.relation)
    if kind == enums.ObjectType.OBJECT_INDEX:
        facts.take(SUE)  # on the index itself (PostgreSQL 12+), not on its table
        return
    facts.take(AX, key)
    new = state.is_new(key)
    if kind == enums.ObjectType.OBJECT_TABLE:
        target = (
            f"{str(node.relation.schemaname).lower()}.{str(node.newname).lower()}"
            if node.relation.schemaname
            else str(node.newname).lower()
        )
        if new:
            state.add_new(target)
            return
        hits.append(
            Hit(
                "rename-table",
                f"RENAME {state.describe(key)} TO {quote(node.newname)}: code using the old "
                "name fails until it is deployed",
                "-- in one transaction: a view under the old name keeps old code working\n"
                f"ALTER TABLE {table} RENAME TO {quote(node.newname)};\n"
                f"CREATE VIEW {table} AS SELECT * FROM "
                + (f"{quote(node.relation.schemaname)}." if node.relation.schemaname else "")
                + f"{quote(node.newname)};\n-- once no code uses the old name:\nDROP VIEW {table};",
                (key,),
                costly=False,
            )
        )
    elif kind == enums.ObjectType.OBJECT_COLUMN and not new:
        old, to = quote(node.subname), quote(node.newname)
        sig = state.columns.get((key, str(node.subname)))
        type_text = sig.name if sig is not None else f"<type of {old}>"
        hits.append(
            Hit(
                "rename-column",
                f"RENAME COLUMN {old} TO {to} on {state.describe(key)}: code using the old "
                "name fails until it is deployed",
                f"ALTER TABLE {table} ADD COLUMN {to} {type_text};\n"
                f"-- deploy code that writes both columns, then:\n"
                + backfill(table, to, old)
                + f"\n-- deploy code that reads {to} only, then:\n"
                f"ALTER TABLE {table} DROP COLUMN {old};",
                (key,),
                costly=False,
            )
        )


def _truncate(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    for rel in node.relations or ():
        key = table_key(rel)
        facts.take(AX, key)
        if state.is_new(key):
            continue
        table = table_sql(rel)
        hits.append(
            Hit(
                "truncate",
                f"TRUNCATE {state.describe(key)} takes ACCESS EXCLUSIVE and removes every row"
                + (
                    " of every referencing table (CASCADE)"
                    if node.behavior.name == "DROP_CASCADE"
                    else ""
                ),
                "-- delete in batches, each in its own transaction, until it deletes 0 rows:\n"
                f"DELETE FROM {table} WHERE ctid IN (SELECT ctid FROM {table} LIMIT {BATCH});",
                (key,),
            )
        )


def _vacuum(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    options = {str(o.defname).lower() for o in node.options or ()}
    full = "full" in options
    for rel in node.rels or ():
        if rel.relation is None:
            continue
        key = table_key(rel.relation)
        facts.take(AX if full else SUE, key)
        if full and not state.is_new(key):
            facts.rewrites = True
            hits.append(
                Hit(
                    "vacuum-full",
                    f"VACUUM FULL rewrites {state.describe(key)} under ACCESS EXCLUSIVE",
                    f"-- pg_repack rebuilds it online: pg_repack --table={key}\n"
                    f"VACUUM (ANALYZE) {table_sql(rel.relation)};",
                    (key,),
                )
            )


def _cluster(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    if node.relation is None:
        return
    key = table_key(node.relation)
    facts.take(AX, key)
    if state.is_new(key):
        return
    facts.rewrites = True
    order = f" --order-by=<columns of {node.indexname}>" if node.indexname else ""
    hits.append(
        Hit(
            "cluster",
            f"CLUSTER rewrites {state.describe(key)} under ACCESS EXCLUSIVE",
            f"-- pg_repack reorders it online: pg_repack --table={key}{order}\n"
            f"ANALYZE {table_sql(node.relation)};",
            (key,),
        )
    )


def _lock(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    mode = LOCK_MODES[node.mode - 1] if 1 <= node.mode <= len(LOCK_MODES) else AX
    keys = [table_key(r) for r in node.relations or ()]
    facts.take(mode, *keys)
    existing = [k for k in keys if not state.is_new(k)]
    if not existing:
        return
    hits.append(
        Hit(
            "lock-table",
            f"LOCK TABLE {', '.join(state.describe(k) for k in existing)} IN {mode} MODE: "
            "everything that conflicts waits until the transaction ends",
            "SET lock_timeout = '2s';  -- fail fast instead of queueing behind long queries\n"
            "-- and no LOCK TABLE: each statement takes the lock it needs",
            tuple(existing),
            lock=mode,
        )
    )


def _refresh(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    key = table_key(node.relation)
    facts.take("EXCLUSIVE" if node.concurrent else AX, key)
    if node.concurrent or state.is_new(key) or node.skipData:
        return
    hits.append(
        Hit(
            "refresh-matview-not-concurrent",
            f"REFRESH MATERIALIZED VIEW {state.describe(key)} blocks its readers until done",
            "-- CONCURRENTLY needs a unique index on the view\n"
            f"REFRESH MATERIALIZED VIEW CONCURRENTLY {table_sql(node.relation)};",
            (key,),
        )
    )


def _write(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    from pglast import ast

    key = table_key(node.relation)
    facts.take("ROW EXCLUSIVE", key)
    if isinstance(node, ast.InsertStmt) or state.is_new(key):
        return
    facts.scans = node.whereClause is None
    if key not in state.ddl_tables:
        return
    table = table_sql(node.relation)
    where = node.whereClause
    node.whereClause = None
    head = deparse(node)
    condition = f" WHERE {deparse(where)}" if where is not None else ""
    hits.append(
        Hit(
            "backfill-with-ddl",
            f"{head.split(' ', 1)[0]} of {state.describe(key)} in the transaction of DDL on it: "
            "the DDL's ACCESS EXCLUSIVE lock is held while every row is written",
            "-- in a migration of its own (-- migrata: no-transaction), repeated until it "
            "changes 0 rows\n-- (make the condition skip rows already done):\n"
            f"{head} WHERE ctid IN (SELECT ctid FROM {table}{condition} LIMIT {BATCH});",
            (key,),
            lock=AX,
        )
    )


def _alter_enum(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    if not node.newVal or state.at_least(120000) or not state.in_transaction:
        return
    hits.append(
        Hit(
            "enum-value-in-transaction",
            f"ALTER TYPE … ADD VALUE '{node.newVal}' fails in a transaction before "
            f"PostgreSQL 12 (server {state.server_version})",
            "-- migrata: no-transaction\n" + deparse(node) + ";",
            (),
            costly=False,
        )
    )


def _reindex(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    from pglast import enums

    options = {str(o.defname).lower() for o in node.params or ()}
    concurrent = "concurrently" in options
    key = None
    if node.relation is not None:
        if node.kind == enums.ReindexObjectType.REINDEX_OBJECT_INDEX:
            name = table_key(node.relation)
            key = state.index_table.get(name) or state.index_table.get(name.rsplit(".", 1)[-1])
        else:
            key = table_key(node.relation)
    facts.take(SUE if concurrent else "SHARE", *((key,) if key else ()))
    if concurrent:
        _concurrently(node, state, hits, key)
        return
    if key is not None and state.is_new(key):
        return
    if not state.at_least(120000):
        return  # no REINDEX CONCURRENTLY before 12
    facts.scans = True
    on = state.describe(key) if key else "its table"
    hits.append(
        Hit(
            "reindex-not-concurrent",
            f"REINDEX without CONCURRENTLY blocks writes to {on} while it rebuilds",
            OWN_MIGRATION + deparse(node).replace("REINDEX ", "REINDEX (CONCURRENTLY) ", 1) + ";",
            (key,) if key else (),
        )
    )


def _trigger(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    facts.take(SRE, table_key(node.relation))


def _policy(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    facts.take(AX, table_key(node.table))


def _comment(node: Any, state: RunState, facts: Facts, hits: list[Hit]) -> None:
    from pglast import enums

    if node.objtype in (enums.ObjectType.OBJECT_TABLE, enums.ObjectType.OBJECT_COLUMN):
        parts = [p.lower() for p in _names(node.object)]
        if node.objtype == enums.ObjectType.OBJECT_COLUMN:
            parts = parts[:-1]
        facts.take(SUE, ".".join(parts))


_HANDLERS = {
    "CreateStmt": _create_table,
    "CreateTableAsStmt": _create_table_as,
    "IndexStmt": _index,
    "DropStmt": _drop,
    "AlterTableStmt": _alter_table,
    "RenameStmt": _rename,
    "TruncateStmt": _truncate,
    "VacuumStmt": _vacuum,
    "ClusterStmt": _cluster,
    "LockStmt": _lock,
    "RefreshMatViewStmt": _refresh,
    "UpdateStmt": _write,
    "DeleteStmt": _write,
    "InsertStmt": _write,
    "AlterEnumStmt": _alter_enum,
    "ReindexStmt": _reindex,
    "CreateTrigStmt": _trigger,
    "CreatePolicyStmt": _policy,
    "CommentStmt": _comment,
    "DropdbStmt": _drop_database,
}


def parse_statements(sqls: list[str], whole: str | None = None) -> list[Any]:
    """Each statement's AST node (None where it does not parse)."""
    from pglast import parse_sql
    from pglast.parser import ParseError

    if whole is not None:
        try:
            nodes = [raw.stmt for raw in parse_sql(whole)]
        except ParseError:
            nodes = []
        if len(nodes) == len(sqls):
            return nodes
    found: list[Any] = []
    for sql in sqls:
        try:
            parsed = parse_sql(sql)
        except ParseError:
            found.append(None)
            continue
        found.append(parsed[0].stmt if parsed else None)
    return found


def iter_nodes(nodes: list[Any]) -> Iterator[tuple[int, Any]]:
    for index, node in enumerate(nodes):
        if node is not None:
            yield index, node
