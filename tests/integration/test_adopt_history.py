"""guard-adopt judges each revision by what it and the later ones leave behind (issue 10).

tests/fixtures/adopt_history (see its README): types widened twice, a table
and an index created then dropped, a column renamed.  Before, a database the
raw files built was stamped at nothing (001 read "partial"), and ``upgrade
head`` replayed 002 over a 30-character title: 22001 value too long for
type character varying(20).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from test_adopt import current, revisions_by_file, run_adopt
from test_import import assert_same_schema, do_import, live, make_env

from alembic import command
from alembic_guard.check import CheckOptions, collect
from alembic_guard.sql.parse import parse_text

pytestmark = pytest.mark.db

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "adopt_history"
UNKNOWNS = Path(__file__).resolve().parents[1] / "fixtures" / "adopt_unknowns"
SEARCH_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "adopt_search_path"


def apply_files(url: str, names: list[str], fixture: Path = FIXTURE) -> None:
    """The raw files, as a legacy runner applies them: in order, each statement as written."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            cursor = conn.connection.cursor()  # the driver's own: no parameters, `%` as written
            for name in names:
                for st in parse_text((fixture / name).read_text()):
                    cursor.execute(st.text)
    finally:
        engine.dispose()


FILES = sorted(p.name for p in FIXTURE.glob("*.sql"))


def test_a_database_the_files_built_is_stamped_at_head(tmp_path: Path, pg_server: object) -> None:
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    with pg_server.database() as url:
        apply_files(url, FILES)
        cfg = make_env(tmp_path, url)
        do_import(cfg, FIXTURE)
        revs = revisions_by_file(tmp_path)
        code, out = run_adopt(cfg)
        assert code == 0, "\n".join(out)
        assert current(url) == [revs[-1][0]], "\n".join(out)
        assert out[-1] == f"Stamped {revs[-1][0]} ({len(revs)} of {len(revs)} revisions present)."
        assert [line.split()[:2] for line in out if line.startswith(" * ")] == [["*", "present"]] * len(revs)
        command.upgrade(cfg, "head")  # nothing left to run


def test_a_database_part_way_is_stamped_where_it_is_and_upgrade_completes(
    tmp_path: Path, pg_server: object
) -> None:
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    with pg_server.database() as url, pg_server.database() as fresh:
        apply_files(url, FILES[:2])  # 001 and 002: title varchar(20), draft still there
        cfg = make_env(tmp_path, url)
        do_import(cfg, FIXTURE)
        revs = revisions_by_file(tmp_path)
        code, out = run_adopt(cfg)
        text = "\n".join(out)
        assert code == 0, text
        assert current(url) == [revs[1][0]], text
        # what the rest still has to do, judged against the end of the history
        widened = "column note.title: character varying(20) NULL (the history gives text NULL)"
        assert f"another definition: {widened}" in text
        assert "should be dropped but still there: relation draft" in text
        command.upgrade(cfg, "head")
        fresh_cfg = Config(str(tmp_path / "alembic.ini"))
        fresh_cfg.set_main_option("sqlalchemy.url", fresh)
        command.upgrade(fresh_cfg, "head")
        assert_same_schema(live(fresh), live(url))


def test_what_the_changes_cannot_tell_is_not_held_against_the_database(
    tmp_path: Path, pg_server: object
) -> None:
    """tests/fixtures/adopt_unknowns: indexes on parts made by dynamic SQL and later dropped with
    their parent, drops under a condition on the catalog.  Before, the database the files built
    was stamped at 001 (002's indexes and 003's column read "missing"); ``upgrade head`` then
    ran 002 on parts that no longer exist."""
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    names = sorted(p.name for p in UNKNOWNS.glob("*.sql"))
    with pg_server.database() as url:
        apply_files(url, names, UNKNOWNS)
        cfg = make_env(tmp_path, url)
        do_import(cfg, UNKNOWNS)
        revs = revisions_by_file(tmp_path)
        code, out = run_adopt(cfg)
        text = "\n".join(out)
        assert code == 0, text
        assert current(url) == [revs[-1][0]], text
        assert out[-1] == f"Stamped {revs[-1][0]} ({len(revs)} of {len(revs)} revisions present)."
        unjudged = [sorted(line.split(": ", 1)[1].split(", ")) for line in out if "not judged" in line]
        assert unjudged == [
            ["index reading_0_taken", "index reading_1_taken"],  # 002: on parts the history never had
            ["column probe.origin", "index probe_label_a"],  # 003: dropped if the catalog said so
        ], text
        command.upgrade(cfg, "head")  # nothing left to run
        assert current(url) == [revs[-1][0]]
        report = collect(cfg, CheckOptions(url=url))
        assert [f"{d.kind} {d.object}" for d in report.drift_items] == [], report.drift


def test_guard_check_finds_no_drift_where_a_conditional_drop_did_its_work(
    tmp_path: Path, pg_server: object
) -> None:
    """003 alone (no dynamic SQL, which makes guard-check lenient on its own): the column and the
    index dropped if the catalog said so are gone.  Before, guard-check reported AG501 missing
    column probe.origin on the adopted database."""
    import shutil

    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    only = tmp_path / "sql"
    only.mkdir()
    shutil.copy(UNKNOWNS / "003_conditional.sql", only)
    with pg_server.database() as url:
        apply_files(url, ["003_conditional.sql"], only)
        cfg = make_env(tmp_path / "env", url)
        do_import(cfg, only)
        code, out = run_adopt(cfg)
        assert code == 0 and out[-1].startswith("Stamped"), out
        report = collect(cfg, CheckOptions(url=url))
        assert [f"{d.kind} {d.object}" for d in report.drift_items] == [], report.drift


def test_a_database_whose_search_path_puts_another_schema_first(tmp_path: Path, pg_server: object) -> None:
    """tests/fixtures/adopt_search_path: unqualified names land in shop; the catalog writes the
    column type as the search_path shows it (kind, not shop.kind).  Before, nothing was stamped
    and guard-check reported AG503 on the columns of that type."""
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    with pg_server.database() as url:
        engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                name = conn.exec_driver_sql("SELECT current_database()").scalar_one()
                conn.exec_driver_sql("CREATE SCHEMA shop")
                conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET search_path = shop, public')
        finally:
            engine.dispose()
        apply_files(url, sorted(p.name for p in SEARCH_PATH.glob("*.sql")), SEARCH_PATH)
        cfg = make_env(tmp_path, url)
        do_import(cfg, SEARCH_PATH)
        revs = revisions_by_file(tmp_path)
        code, out = run_adopt(cfg)
        assert code == 0 and current(url) == [revs[-1][0]], "\n".join(out)
        report = collect(cfg, CheckOptions(url=url))
        assert [f"{d.kind} {d.object}" for d in report.drift_items] == [], report.drift


def test_a_table_declared_from_outside_the_set_is_not_drift(tmp_path: Path, pg_server: object) -> None:
    """A previous tool's bookkeeping table (declared in [tool.alembic_guard] outside_sql) is in the
    database and no revision makes it.  Before, guard-check on the adopted database reported it
    (AG511 extra table)."""
    from alembic_guard.testing import PostgresServer

    assert isinstance(pg_server, PostgresServer)
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "001_item.sql").write_text("CREATE TABLE item (id integer PRIMARY KEY, name text);\n")
    stub = tmp_path / "outside.sql"
    stub.write_text("CREATE TABLE IF NOT EXISTS runner_versions (version text PRIMARY KEY);\n")
    (tmp_path / "pyproject.toml").write_text('[tool.alembic_guard]\noutside_sql = "outside.sql"\n')
    with pg_server.database() as url:
        apply_files(url, ["outside.sql"], tmp_path)
        apply_files(url, ["001_item.sql"], sql)
        cfg = make_env(tmp_path, url)
        do_import(cfg, sql)
        code, out = run_adopt(cfg)
        assert code == 0 and out[-1].startswith("Stamped"), out
        report = collect(cfg, CheckOptions(url=url))
        assert [f"{d.kind} {d.object}" for d in report.drift_items] == [], report.drift
