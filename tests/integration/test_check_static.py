"""``alembic guard-check`` static scenarios, through the real ``alembic`` executable (no database)."""

from __future__ import annotations

import json
import os
import subprocess

from alembic_guard.testing import GuardedProject, alembic_executable

OFFLINE = ("guard-check", "--offline", "--format", "json")


def _doc(project: GuardedProject, *args: str) -> tuple[int, dict]:
    done = project.run(*OFFLINE, *args)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def _codes(doc: dict) -> list[tuple[str, str | None]]:
    return [(f["code"], f["revision"]) for f in doc["findings"]]


def test_index_on_table_from_an_earlier_revision_is_flagged_same_revision_is_not(tmp_path):
    p = GuardedProject(tmp_path, "unused")
    p.add_revision(
        "r1",
        None,
        """
        op.create_table("t", sa.Column("id", sa.Integer, primary_key=True), sa.Column("a", sa.Integer))
        op.create_index("ix_t_a", "t", ["a"])
    """,
    )
    p.add_revision("r2", "r1", 'op.create_index("ix_t_id_a", "t", ["id", "a"])')
    code, doc = _doc(p)
    assert code == 1
    assert _codes(doc) == [("AG201", "r2")]
    f = doc["findings"][0]
    assert f["location"] == {"file": "migrations/versions/0002_r2.py", "line": 14, "col": 1}
    assert f["sql"] == "CREATE INDEX ix_t_id_a ON t (id, a)"
    locks = [s["lock"] for r in doc["revisions"] for s in r["statements"]]
    assert locks == ["none", "SHARE", "SHARE"]


def test_missing_column_across_revisions_names_revision_file_and_statement(tmp_path):
    p = GuardedProject(tmp_path, "unused")
    p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    p.add_revision(
        "r2", "r1", 'op.execute("UPDATE t SET owner_id = 1")\nop.add_column("t", sa.Column("x", sa.Integer))'
    )
    p.add_revision("r3", "r2", 'op.add_column("t", sa.Column("owner_id", sa.Integer))')
    code, doc = _doc(p)
    assert code == 1
    missing = [f for f in doc["findings"] if f["code"] == "AG601"]
    assert len(missing) == 1
    assert missing[0]["revision"] == "r2"
    assert "column t.owner_id" in missing[0]["message"]
    assert missing[0]["location"]["file"] == "migrations/versions/0002_r2.py"
    assert missing[0]["location"]["line"] == 14
    assert missing[0]["sql"] == "UPDATE t SET owner_id = 1"


def test_multiple_heads_is_an_error(tmp_path):
    p = GuardedProject(tmp_path, "unused")
    p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    p.add_revision("r2", "r1", 'op.create_table("u", sa.Column("id", sa.Integer, primary_key=True))')
    p.add_revision("r3", "r1", 'op.create_table("v", sa.Column("id", sa.Integer, primary_key=True))')
    code, doc = _doc(p)
    assert code == 1
    assert _codes(doc) == [("AG602", None)]
    assert doc["findings"][0]["message"] == "2 heads: r2, r3"


def test_clean_set_exits_0_and_base_limits_the_revisions(tmp_path):
    p = GuardedProject(tmp_path, "unused")
    p.add_revision("r1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))')
    p.add_revision("r2", "r1", 'op.create_table("u", sa.Column("id", sa.Integer, primary_key=True))')
    p.add_revision("r3", "r2", 'op.add_column("u", sa.Column("note", sa.Text))')
    done = p.run("guard-check", "--offline")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "OK: 0 error(s), 0 warning(s)"
    code, doc = _doc(p, "--base", "r1")
    assert code == 0
    assert [r["revision"] for r in doc["revisions"]] == ["r2", "r3"]
    # r3's ADD COLUMN on u (created by r2, before the reported range starts in r2) is fine;
    # a strict run stays clean too
    assert p.run("guard-check", "--offline", "--strict").returncode == 0
    out = tmp_path / "report.sarif"
    written = p.run("guard-check", "--offline", "--format", "sarif", "--output", str(out))
    assert written.returncode == 0 and written.stdout == ""
    assert written.stderr.strip() == f"guard-check: 0 error(s), 0 warning(s); report written to {out}"
    assert json.loads(out.read_text())["runs"][0]["results"] == []


def test_strict_turns_warnings_into_exit_1(tmp_path):
    p = GuardedProject(tmp_path, "unused")
    # a suppression that matches nothing: AG001, a warning
    p.add_revision("r1", None, 'op.execute("-- alembic-guard: ignore[AG201]\\nSELECT 1")')
    code, doc = _doc(p)
    assert code == 0
    assert [(f["code"], f["severity"]) for f in doc["findings"]] == [("AG001", "warning")]
    assert p.run("guard-check", "--offline", "--strict").returncode == 1


def test_usage_errors_exit_2_with_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    missing = subprocess.run(
        [alembic_executable(), "-c", str(tmp_path / "nope.ini"), "guard-check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert missing.stderr.startswith("FAILED: no Alembic configuration"), missing.stderr
    p = GuardedProject(tmp_path / "proj", "unused")
    ini = p.ini.read_text().replace(
        "script_location = %(here)s/migrations", "script_location = %(here)s/gone"
    )
    p.ini.write_text(ini)
    bad = p.run("guard-check", "--offline")
    assert bad.returncode == 2
    assert bad.stderr.startswith("FAILED: cannot read the migration scripts"), bad.stderr
    assert "Traceback" not in bad.stderr
