"""A legacy SQL file's name and text never become code in the revision guard-import writes (issue 14).

The reproduction from the issue: a file named ``001_x\\nimport os; os.system(...)\\n#.sql``
(legal on Linux) used to land unescaped in a ``#`` comment of the generated
revision, so ``alembic history`` and ``alembic upgrade head`` ran it.  Here they
run through the real ``alembic`` executable and the marker file must not
appear; PostgreSQL then shows the hostile comment text and identifier exactly
as the SQL file wrote them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db

COMMENT = 'line\nbreak \u2028 sep """ triple \\N{BULLET} \\ :x \\:y end\\'
IDENT = 'odd\n"name\u2029'


def test_hostile_file_name_and_statements_stay_data(tmp_path: Path, pg_url: str) -> None:
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    # no "/" in a file name: the marker is relative to the working directory, the project's root.
    # The name, and one indented to land inside upgrade(), where it would run on upgrade.
    payload = "import os; os.system('touch MARKER')"
    (sql_dir / f"001_x\n{payload}\n#.sql").write_text("CREATE TABLE plain_t (id integer);\n")
    name = f"002_y\n    {payload}\n    #.sql"
    quoted_ident = '"' + IDENT.replace('"', '""') + '"'
    (sql_dir / name).write_text(
        "CREATE TABLE hostile_t (id integer);\n"
        f"COMMENT ON TABLE hostile_t IS '{COMMENT.replace(chr(39), chr(39) * 2)}';\n"
        f"CREATE TABLE {quoted_ident} (id integer);\n",
        encoding="utf-8",
    )
    project = GuardedProject(tmp_path / "project", pg_url)
    marker = project.root / "MARKER"
    imported = project.run("guard-import", str(sql_dir))
    assert imported.returncode == 0, imported.stderr
    revisions = list(project.versions.glob("*.py"))
    assert len(revisions) == 2 and all(r.name.isascii() and "\n" not in r.name for r in revisions)
    for argv in (("history",), ("upgrade", "head"), ("history", "--verbose")):
        done = project.run(*argv)
        assert done.returncode == 0, (argv, done.stderr)
        assert not marker.exists(), f"alembic {' '.join(argv)} ran code from the file name"

    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        comment = conn.exec_driver_sql("SELECT obj_description('hostile_t'::regclass, 'pg_class')").scalar()
        odd = conn.execute(
            sa.text("SELECT count(*) FROM pg_class WHERE relname = :n AND relkind = 'r'"), {"n": IDENT}
        ).scalar()
    engine.dispose()
    assert comment == COMMENT
    assert odd == 1
