"""Bad configuration and broken revision files: one line naming the file / key / value, exit 2, no writes.

Each case breaks a fresh guarded project in one way; ``alembic upgrade head``
runs through the real ``alembic`` executable and the guarded ``env.py``, the
``guard-*`` commands in process (the same code path, much faster).  After a
failed upgrade the database holds neither ``alembic_version`` nor the ledger.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa

from alembic_guard.testing import GuardedProject

pytestmark = pytest.mark.db

GOOD = """\
revision = "a1"
down_revision = None
branch_labels = None
depends_on = None

from alembic import op


def upgrade():
    op.execute("SELECT 1")


def downgrade():
    pass
"""


def second(body: str) -> Callable[[GuardedProject], None]:
    """A second revision file, ``b2.py``, with ``body`` (bytes allowed via latin-1 escapes)."""

    def write(p: GuardedProject) -> None:
        (p.versions / "b2.py").write_bytes(body.encode("latin-1"))

    return write


def pyproject(text: bytes) -> Callable[[GuardedProject], None]:
    def write(p: GuardedProject) -> None:
        (p.root / "pyproject.toml").write_bytes(text)

    return write


def ini_append(text: bytes) -> Callable[[GuardedProject], None]:
    def write(p: GuardedProject) -> None:
        p.ini.write_bytes(p.ini.read_bytes() + text)

    return write


def replace_first(old: str, new: str) -> Callable[[GuardedProject], None]:
    def write(p: GuardedProject) -> None:
        path = p.versions / "a1.py"
        path.write_text(path.read_text().replace(old, new))

    return write


def copy_first(p: GuardedProject) -> None:
    (p.versions / "a1_copy.py").write_text((p.versions / "a1.py").read_text())


@dataclass(frozen=True)
class Case:
    name: str
    breaks: Callable[[GuardedProject], None]
    fragment: str  # in the FAILED line
    env: dict[str, str] = field(default_factory=dict)
    commands: tuple[tuple[str, ...], ...] = (("guard-status",), ("guard-check", "--offline"))


# settings are read by the commands that run migrations (guard-check judges Alembic's SQL without them);
# Alembic itself reads alembic.ini and pyproject.toml for every command
CONFIG: tuple[tuple[str, ...], ...] = ()

CASES = [
    Case(
        "toml-syntax",
        pyproject(b"[tool.alembic_guard\nprofile = 'dev'\n"),
        "pyproject.toml: not valid TOML",
        commands=CONFIG,
    ),
    Case(
        "toml-profile-not-a-table",
        pyproject(b"[tool.alembic_guard]\nprofiles = { prod = 3 }\n"),
        "[tool.alembic_guard.profiles.prod]: must be a table",
        commands=CONFIG,
    ),
    Case(
        "toml-profiles-not-a-table",
        pyproject(b"[tool.alembic_guard]\nprofiles = 'prod'\n"),
        "profiles = 'prod' must be a table",
        commands=CONFIG,
    ),
    Case(
        "toml-section-not-a-table",
        pyproject(b"[tool]\nalembic_guard = 3\n"),
        "[tool.alembic_guard] must be a table",
        commands=CONFIG,
    ),
    Case(
        "toml-not-utf8",
        pyproject(b"[tool.alembic_guard]\n# caf\xe9\nprofile = 'dev'\n"),
        "pyproject.toml:2: not UTF-8 text",
        commands=CONFIG,
    ),
    Case(
        "toml-unknown-profile",
        pyproject(b"[tool.alembic_guard.profiles.staging]\nretries = 1\n"),
        "unknown profile 'staging'",
        commands=CONFIG,
    ),
    Case(
        "toml-overflowing-duration",
        pyproject(b"[tool.alembic_guard]\nlock_timeout = '100000000000000000000ms'\n"),
        "lock_timeout = '100000000000000000000ms' is too long",
        commands=CONFIG,
    ),
    Case(
        "ini-duplicate-section",
        ini_append(b"\n[alembic_guard]\nretries = 1\n"),
        "alembic.ini: not a valid INI file: While reading from",
        commands=(("guard-status",),),
    ),
    Case(
        "ini-duplicate-key",
        ini_append(b"\n[alembic_guard:prod]\nretries = 1\nretries = 2\n"),
        "option 'retries' in section 'alembic_guard:prod' already exists",
        commands=(("guard-status",),),
    ),
    Case("ini-not-utf8", ini_append(b"\n# caf\xe9\n"), "alembic.ini:", commands=(("guard-status",),)),
    Case(
        "env-inf",
        lambda p: None,
        "$ALEMBIC_GUARD_LOCK_TIMEOUT: lock_timeout = 'inf' is not a duration",
        env={"ALEMBIC_GUARD_LOCK_TIMEOUT": "inf"},
        commands=CONFIG,
    ),
    Case(
        "env-huge-duration",
        lambda p: None,
        "lock_wait = '100000000000000000000ms' is too long",
        env={"ALEMBIC_GUARD_LOCK_WAIT": "100000000000000000000ms"},
        commands=CONFIG,
    ),
    Case(
        "env-huge-hours",
        lambda p: None,
        "statement_timeout = '99999999999999h' is too long",
        env={"ALEMBIC_GUARD_STATEMENT_TIMEOUT": "99999999999999h"},
        commands=CONFIG,
    ),
    Case(
        "env-retries",
        lambda p: None,
        "retries = '100000000000000000000' is too many",
        env={"ALEMBIC_GUARD_RETRIES": "1" + "0" * 20},
        commands=CONFIG,
    ),
    Case(
        "no-upgrade",
        replace_first('def upgrade():\n    op.execute("SELECT 1")\n', ""),
        "versions/a1.py: no upgrade() function",
        commands=(("guard-check", "--offline"),),  # guard-status lists it: it runs nothing
    ),
    Case("empty-file", second(""), "versions/b2.py: empty revision file"),
    Case(
        "not-utf8",
        second('revision = "b2"\ndown_revision = "a1"\nx = "caf\xe9"\ndef upgrade():\n    pass\n'),
        "versions/b2.py:3: not utf-8 text",
    ),
    Case(
        "syntax-error",
        second('revision = "b2"\ndown_revision = "a1"\ndef upgrade(:\n    pass\n'),
        "versions/b2.py:3: invalid syntax",
    ),
    Case(
        "no-down-revision",
        second('revision = "b2"\ndef upgrade():\n    pass\n'),
        "versions/b2.py: no down_revision = ... assignment",
    ),
    Case(
        "depends-on-nothing",
        second('revision = "b2"\ndown_revision = "a1"\ndepends_on = "zz9"\ndef upgrade():\n    pass\n'),
        "versions/b2.py: depends_on = 'zz9' names no revision",
    ),
    Case(
        "down-revision-nothing",
        second('revision = "b2"\ndown_revision = "nope"\ndef upgrade():\n    pass\n'),
        "versions/b2.py: down_revision = 'nope' names no revision",
    ),
    Case("duplicate-id", copy_first, "revision 'a1' is also defined in"),
]


def _check(code: object, out: str, err: str, fragment: str) -> str | None:
    lines = [line for line in err.splitlines() if not line.startswith(("INFO ", "WARNI"))]
    if code != 2:
        return f"exit {code}"
    if "Traceback" in err:
        return "traceback"
    if not lines or not lines[0].startswith("FAILED: ") or fragment not in lines[0]:
        return f"first line does not say {fragment!r}"
    if len(lines) > 2 or (len(lines) == 2 and not lines[1].startswith("  hint: ")):
        return "more than the FAILED line and its hint"
    return None


def _run_in_process(project: GuardedProject, argv: tuple[str, ...], capsys) -> tuple[object, str, str]:
    from alembic_guard import cli

    code: object = 0
    try:
        cli.main(["-c", str(project.ini), *argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_bad_inputs_are_one_line_exit_2_and_write_nothing(tmp_path, pg_server, monkeypatch, capsys):
    failures: list[str] = []
    upgrades = []
    databases = []
    for case in CASES:
        url = pg_server.create_database()
        databases.append(url)
        project = GuardedProject(tmp_path / case.name, url)
        (project.versions / "a1.py").write_text(GOOD)
        case.breaks(project)
        upgrades.append((case, url, project.popen("upgrade", "head", env=project.env(**case.env))))
        monkeypatch.chdir(project.root)
        for var in [
            v for v in os.environ if v.startswith("ALEMBIC_GUARD_") and v != "ALEMBIC_GUARD_TEST_URL"
        ]:
            monkeypatch.delenv(var)
        monkeypatch.setenv("DATABASE_URL", url)
        for key, value in case.env.items():
            monkeypatch.setenv(key, value)
        for argv in case.commands:
            wrong = _check(*_run_in_process(project, argv, capsys), case.fragment)
            if wrong:
                failures.append(f"{case.name} / {' '.join(argv)}: {wrong}")
        for key in case.env:
            monkeypatch.delenv(key)
    for case, url, proc in upgrades:
        out, err = proc.communicate(timeout=300)
        wrong = _check(proc.returncode, out, err, case.fragment)
        if wrong:
            failures.append(f"{case.name} / upgrade head: {wrong}\n{err}")
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            written = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_class WHERE relname IN ('alembic_version', 'alembic_guard_log')"
                )
            ).scalar()
        engine.dispose()
        if written:
            failures.append(f"{case.name} / upgrade head: wrote alembic_version or the ledger")
    for url in databases:
        pg_server.drop_database(sa.engine.make_url(url).database or "")
    assert not failures, "\n".join(failures)


def test_guard_init_into_a_directory_it_cannot_create(tmp_path, monkeypatch, capsys):
    (tmp_path / "a_file").write_text("")
    monkeypatch.chdir(tmp_path)
    from alembic_guard import cli

    with pytest.raises(SystemExit) as info:
        cli.main(["guard-init", "a_file/migrations"])
    _out, err = capsys.readouterr()
    assert info.value.code == 2
    assert err.startswith("FAILED: a_file/migrations: cannot create the directory: Not a directory"), err
    assert "Traceback" not in err and not (tmp_path / "alembic.ini").exists()


def test_guard_check_metadata_that_is_not_a_metadata(tmp_path, pg_url, monkeypatch, capsys):
    project = GuardedProject(tmp_path / "p", pg_url)
    monkeypatch.setenv("DATABASE_URL", pg_url)
    (project.versions / "a1.py").write_text(GOOD)
    (project.root / "models.py").write_text(
        "import sqlalchemy as sa\nBase = object()\nmetadata = sa.MetaData()\n"
    )
    monkeypatch.chdir(project.root)
    code, _out, err = _run_in_process(project, ("guard-check", "--metadata", "models:Base"), capsys)
    assert code == 2, err
    assert err.startswith("FAILED: --metadata models:Base: is a object, not a SQLAlchemy MetaData"), err
    assert Path(project.root / "models.py").exists()
