"""Properties of the guarded run, on generated revision sets, against the suite's PostgreSQL.

- Property 3 (error handling consistency): a transactional revision that fails, at a
  generated position, leaves the schema and ``alembic_version`` as they were before it.
- Property 4 (migration state tracking): N processes upgrading one database at once apply
  each revision exactly once, and the schema they leave equals what a single run leaves.
- Property 5 (failure records): every failure leaves a ``failed`` ledger record with the
  SQLSTATE, the statement and its position.

The generated operations mix ``op.create_table``, ``op.execute`` (DDL and seed rows),
``CREATE INDEX CONCURRENTLY`` in an autocommit block and string CHECKs.  A property counts
the examples it asserted on; fewer than half fails the test (a generator that only produced
refusals would otherwise prove nothing).  Example counts are small: each example migrates real
databases, and property 4 starts processes (this runs on 2-core machines).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import NullPool

from alembic_guard.errors import GuardError
from alembic_guard.model import LEDGER_TABLE
from alembic_guard.runtime import upgrade_on_startup
from alembic_guard.runtime.runner import URL_ATTR
from alembic_guard.testing import GuardedProject, PostgresServer, schema_fingerprint

pytestmark = pytest.mark.db

# failing statements, each with the SQLSTATE PostgreSQL gives it
FAILURES = (
    ("SELECT 1 / 0", "22012"),
    ("SELECT CAST('x' AS integer)", "22P02"),
    ("DO $$ BEGIN RAISE EXCEPTION 'generated failure' USING ERRCODE = '23514'; END $$", "23514"),
)


ID = 'sa.Column("id", sa.Integer, primary_key=True)'


@dataclass
class Tally:
    """Examples run and examples asserted on, for the at-least-half rule."""

    runs: int = 0
    asserted: int = 0

    def check(self) -> None:
        assert self.runs > 0
        assert self.asserted * 2 >= self.runs, f"asserted on {self.asserted} of {self.runs} examples"


@dataclass
class RevisionSet:
    """Revision bodies (Python statements of ``upgrade()``), in order."""

    bodies: list[list[str]] = field(default_factory=list)


@st.composite
def revision_sets(draw: st.DrawFn, *, min_revisions: int = 1, max_revisions: int = 3) -> RevisionSet:
    """Valid revisions: each op only names tables and columns that exist by then."""
    tables: dict[str, set[str]] = {}
    indexed: set[str] = set()
    checked: set[str] = set()
    rows: dict[str, int] = {}
    out = RevisionSet()
    for r in range(draw(st.integers(min_revisions, max_revisions))):
        body: list[str] = []
        for k in range(draw(st.integers(1, 4))):
            kinds = ["create_table", "execute_table"]
            if tables:
                kinds += ["add_column", "concurrent_index", "string_check", "seed"]
            kind = draw(st.sampled_from(kinds))
            name = f"t{r}_{k}"
            if kind == "create_table":
                tables[name] = {"id", "note"}
                body.append(
                    f'op.create_table("{name}", sa.Column("id", sa.Integer, primary_key=True), '
                    'sa.Column("note", sa.Text))'
                )
                continue
            if kind == "execute_table":
                tables[name] = {"id", "note"}
                body.append(f'op.execute("CREATE TABLE {name} (id integer PRIMARY KEY, note text)")')
                continue
            table = draw(st.sampled_from(sorted(tables)))
            if kind == "add_column":
                column = f"c{r}_{k}"
                tables[table].add(column)
                body.append(f'op.execute("ALTER TABLE {table} ADD COLUMN {column} integer")')
            elif kind == "concurrent_index" and table not in indexed:
                indexed.add(table)
                body.append(
                    "with op.get_context().autocommit_block():\n"
                    f'    op.execute("CREATE INDEX CONCURRENTLY ix_{table}_note ON {table} (note)")'
                )
            elif kind == "string_check" and table not in checked:
                checked.add(table)
                body.append(
                    f'op.create_check_constraint("ck_{table}", "{table}", "note <> \'it\'\'s: none\'")'
                )
            elif kind == "seed":
                rows[table] = rows.get(table, 0) + 1
                body.append(
                    f"op.execute(\"INSERT INTO {table} (id, note) VALUES ({rows[table]}, 'row: a')\")"
                )
        out.bodies.append(body)
    return out


def _write(project: GuardedProject, revisions: RevisionSet, prefix: str = "r") -> list[str]:
    ids: list[str] = []
    for i, body in enumerate(revisions.bodies):
        rev = f"{prefix}{i}"
        project.add_revision(rev, ids[-1] if ids else None, "\n".join(body) or "pass")
        ids.append(rev)
    return ids


@contextlib.contextmanager
def _connect(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _state(url: str) -> tuple[list[tuple[Any, ...]], list[str]]:
    with _connect(url) as conn:
        fingerprint = schema_fingerprint(conn, exclude_tables=(LEDGER_TABLE,))
        has = conn.execute(sa.text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar()
        version = (
            [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))] if has else []
        )
        return fingerprint, version


def _upgrade(project: GuardedProject, url: str, target: str) -> None:
    """The guarded upgrade in this process (the start-up API: same lock, ledger and guards as the CLI)."""
    config = Config(str(project.ini))
    config.attributes[URL_ATTR] = url
    upgrade_on_startup(config, profile="ci", target=target)


@pytest.mark.slow
def test_a_failing_revision_leaves_schema_version_and_a_failure_record(
    pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Properties 3 and 5, on the same examples."""
    tally = Tally()

    @settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(
        revisions=revision_sets(),
        failing=st.lists(
            st.sampled_from(["create_table", "execute_table", "seed", "string_check"]), min_size=0, max_size=3
        ),
        position=st.integers(0, 3),
        failure=st.sampled_from(FAILURES),
    )
    def prop(revisions: RevisionSet, failing: list[str], position: int, failure: tuple[str, str]) -> None:
        tally.runs += 1
        with pg_server.database() as url:
            project = GuardedProject(tmp_path_factory.mktemp("p3"), url)
            ids = _write(project, revisions)
            # the failing revision: transactional ops on a table of its own, the failure among them
            body = [f'op.create_table("f_t", {ID}, sa.Column("note", sa.Text))']
            for j, kind in enumerate(failing):
                body.append(
                    {
                        "create_table": f'op.create_table("f_{j}", {ID})',
                        "execute_table": f'op.execute("CREATE TABLE f_x{j} (id integer PRIMARY KEY)")',
                        "seed": f"op.execute(\"INSERT INTO f_t (id, note) VALUES ({j}, 'seed: {j}')\")",
                        "string_check": f'op.create_check_constraint("ck_f_{j}", "f_t", "note <> \'x:{j}\'")',
                    }[kind]
                )
            sql, sqlstate = failure
            at = min(position, len(body))
            body.insert(at, f"op.execute({sql!r})")
            project.add_revision("fail", ids[-1], "\n".join(body))

            _upgrade(project, url, ids[-1])
            before = _state(url)
            with pytest.raises(GuardError):
                _upgrade(project, url, "head")
            # Property 3: schema and version as before the failing revision
            assert _state(url) == before
            # Property 5: the failure is recorded with its SQLSTATE, statement and position
            with _connect(url) as conn:
                rec = conn.execute(
                    sa.text(
                        "SELECT sqlstate, statement, statement_index FROM alembic_guard_log "
                        "WHERE revision = 'fail' AND status = 'failed'"
                    )
                ).one()
            assert rec[0] == sqlstate
            assert rec[1] is not None and " ".join(sql.split()) in " ".join(rec[1].split())
            assert rec[2] is not None and rec[2] >= 1
            tally.asserted += 1

    prop()
    tally.check()


@pytest.mark.slow
def test_concurrent_runs_apply_each_revision_once_and_equal_a_single_run(
    pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Property 4, with 3 processes per example."""
    tally = Tally()

    @settings(max_examples=3, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(revisions=revision_sets(min_revisions=2, max_revisions=3))
    def prop(revisions: RevisionSet) -> None:
        tally.runs += 1
        with pg_server.database() as single_url, pg_server.database() as shared_url:
            single = GuardedProject(tmp_path_factory.mktemp("p4s"), single_url)
            ids = _write(single, revisions)
            done = single.run("upgrade", "head")
            assert done.returncode == 0, done.stderr

            shared = GuardedProject(tmp_path_factory.mktemp("p4m"), shared_url)
            _write(shared, revisions)
            procs = [shared.popen("upgrade", "head") for _ in range(3)]
            outs = [p.communicate(timeout=300) for p in procs]
            assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
            with _connect(shared_url) as conn:
                applied = conn.execute(
                    sa.text(
                        "SELECT revision, count(*) FROM alembic_guard_log WHERE status = 'succeeded' "
                        "AND direction = 'upgrade' GROUP BY revision ORDER BY revision"
                    )
                ).all()
            assert [tuple(r) for r in applied] == [(rev, 1) for rev in sorted(ids)]
            assert _state(shared_url) == _state(single_url)
            tally.asserted += 1

    prop()
    tally.check()


def test_the_generator_produces_every_kind_of_op() -> None:
    """The op mix the properties run on does contain each kind (a generator bug would hide it)."""
    seen: set[str] = set()

    @settings(max_examples=60, deadline=None, database=None)
    @given(revisions=revision_sets(min_revisions=3, max_revisions=3))
    def collect(revisions: RevisionSet) -> None:
        for body in revisions.bodies:
            for line in body:
                for kind, marker in (
                    ("create_table", "op.create_table"),
                    ("execute", 'op.execute("CREATE TABLE'),
                    ("concurrent", "CONCURRENTLY"),
                    ("check", "op.create_check_constraint"),
                    ("seed", "INSERT INTO"),
                ):
                    if marker in line:
                        seen.add(kind)

    collect()
    assert seen == {"create_table", "execute", "concurrent", "check", "seed"}
