"""Generated revisions never execute input (issue 14, hole 2), over hostile file names and statements.

guard-import turns a SQL file into Python.  Whatever the file is called and
whatever its statements hold --- newlines and every other line break Python
or an editor knows, quotes and triple quotes, backslashes (``\\N`` too),
invalid UTF-8 in the name --- the module it writes:

- parses, and holds no line break but ``\\n`` anywhere;
- defines exactly the names every imported revision defines, at top level
  only assignments of literals, imports of ``sa``, ``op`` and ``postgresql``
  and the two functions: importing it calls nothing;
- and passes every ``op.execute`` the statement's own text: compiled the way
  ``sa.text`` compiles it, the literal is the source statement byte for byte.
"""

from __future__ import annotations

import ast
import hashlib

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from alembic_guard.importer.module import build_revisions, module_text
from alembic_guard.importer.render import render_statement, sql_block
from alembic_guard.plan import plan
from alembic_guard.sql.effects import analyze_all
from alembic_guard.sql.parse import parse_source
from alembic_guard.sql.statement import SourceFile

LINE_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # str.splitlines() breaks besides "\n"
PAYLOAD = "raise SystemExit('injected')"
HOSTILE = (
    "\n",
    "\r",
    "\r\n",
    *LINE_BREAKS,
    f"\n{PAYLOAD}\n#",
    f"\u2028{PAYLOAD}\u2029",
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "\\N",
    "\\N{BULLET}",
    "\\x41",
    "#",
    ":x",
    "\\:x",
    " :ab:",
    "$$",
    "\t",
    "\x01",
    "\x7f",
    "é",
    "\u200b",
)
piece = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=4),
)
hostile_text = st.lists(piece, max_size=6).map("".join)
# a file name may hold any byte but "/" and NUL; one that is not UTF-8 arrives as lone surrogates
file_names = st.tuples(
    hostile_text.map(lambda s: s.replace("/", "_")),
    st.sampled_from(("", "\udcff", "\udc80x")),
).map(lambda t: f"001_{t[0]}{t[1]}.sql")
identifiers = st.lists(piece, min_size=1, max_size=4).map("".join).filter(lambda s: 0 < len(s.encode()) <= 60)


def lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ident(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


@st.composite
def statements(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(("select", "dollar", "escape", "table", "comment")))
    text, name = draw(hostile_text), draw(identifiers)
    if kind == "select":
        return f"SELECT {lit(text)} AS {ident(name)}"  # ends with a double quote
    if kind == "dollar":
        tag = "q" if "$q$" not in text else "qq"
        return f"SELECT ${tag}${text}${tag}$ AS x" if f"${tag}$" not in text else "SELECT 1"
    if kind == "escape":
        return "SELECT E'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if kind == "table":
        return f"CREATE TABLE {ident(name)} ({ident(draw(identifiers))} integer)"
    return f"CREATE TABLE t_c (id integer);\nCOMMENT ON TABLE t_c IS {lit(text)}"


EXPECTED_NAMES = {
    "revision",
    "down_revision",
    "branch_labels",
    "depends_on",
    "source_file",
    "source_checksum",
    "source_statements",
    "source_statement_count",
    "guard_provides",
    "guard_drops",
    "upgrade",
    "downgrade",
}
ALLOWED_IMPORTS = {"sa", "op", "postgresql"}


def top_level_names(tree: ast.Module) -> set[str]:
    """The names the module defines; fails on anything that would run code at import."""
    names: set[str] = set()
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            assert isinstance(node.value.value, str)  # the docstring
        elif isinstance(node, ast.Import | ast.ImportFrom):
            assert {a.asname or a.name for a in node.names} <= ALLOWED_IMPORTS, ast.dump(node)
        elif isinstance(node, ast.Assign):
            assert len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
            ast.literal_eval(node.value)
            names.add(node.targets[0].id)
        elif isinstance(node, ast.AnnAssign):
            assert isinstance(node.target, ast.Name) and node.value is not None
            ast.literal_eval(node.value)
            assert not any(isinstance(n, ast.Call) for n in ast.walk(node.annotation))
            names.add(node.target.id)
        elif isinstance(node, ast.FunctionDef):
            assert not node.decorator_list and not node.args.args and not node.args.defaults
            assert node.returns is None or (
                isinstance(node.returns, ast.Constant) and node.returns.value is None
            )
            names.add(node.name)
        else:
            raise AssertionError(f"unexpected top-level statement: {ast.dump(node)}")
    return names


def executed_sql(tree: ast.Module, function: str) -> list[str]:
    """What each ``op.execute`` in ``function`` sends: its literal as ``sa.text`` compiles it."""
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == function)
    out = []
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "op.execute":
            out.append(str(sa.text(ast.literal_eval(node.args[0])).compile()))
    return out


def check_module(text: str) -> ast.Module:
    for ch in LINE_BREAKS:
        assert ch not in text, f"line break {ch!r} in the generated module"
    tree = ast.parse(text)
    assert top_level_names(tree) == EXPECTED_NAMES
    namespace: dict[str, object] = {}
    exec(compile(tree, "<revision>", "exec"), namespace)  # a spliced PAYLOAD would raise SystemExit here
    assert set(namespace) - {"__builtins__", "__doc__", "__annotations__"} - ALLOWED_IMPORTS == EXPECTED_NAMES
    return tree


@settings(max_examples=80, deadline=None)
@given(name=file_names, stmts=st.lists(statements(), min_size=1, max_size=4))
def test_imported_revisions_parse_define_only_their_names_and_execute_the_source(
    name: str, stmts: list[str]
) -> None:
    text = ";\n".join(stmts) + ";\n"
    checksum = "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()
    src = SourceFile(path=name, text=text, checksum=checksum)
    parsed = parse_source(src)
    result = plan(analyze_all(parsed))
    specs = build_revisions(result.steps)
    assert specs, result.problems
    sent: list[str] = []
    for spec in specs:
        assert spec.filename.isascii() and spec.filename.replace("_", "").replace(".", "").isalnum()
        tree = check_module(module_text(spec))
        file_attr = next(
            n.value
            for n in tree.body
            if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "source_file"
        )
        assert ast.literal_eval(file_attr) == name
        sent += executed_sql(tree, "upgrade")
    raw = [step.sql for step in result.steps if render_statement(step.sql).op == "execute"]
    assert all(step.sql == step.statement.text for step in result.steps if step.sql in raw)
    assert sorted(sent) == sorted(raw)  # the planner may reorder; every statement is sent as written
    for sql in sent:
        assert sql in text


@settings(max_examples=150, deadline=None)
@given(sql=st.lists(piece, max_size=10).map("".join))
def test_sql_block_is_a_literal_of_exactly_the_sql(sql: str) -> None:
    """Any text, a trailing backslash or quote and a closing triple quote included."""
    block = sql_block(sql)
    for ch in LINE_BREAKS:
        assert ch not in block
    tree = ast.parse(f"op.execute({block})")
    call = tree.body[0]
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call) and len(tree.body) == 1
    assert str(sa.text(ast.literal_eval(call.value.args[0])).compile()) == sql
