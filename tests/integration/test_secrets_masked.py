"""No secret of a database URL is ever printed, logged or stored (issue 14, hole 1).

Two login roles with real passwords (scram-sha-256 for them in pg_hba.conf, so
a wrong password really fails) and four URL forms, each carrying one or more
secrets: the userinfo password (plain and percent-encoded), the ``password``
query parameter (plain and percent-encoded), ``sslpassword`` and a
``password`` GUC inside ``options``.  Every command and report format runs
with each form given through ``DATABASE_URL``, ``sqlalchemy.url`` and
``--database``, on a working connection and on the error paths (a closed
port, a wrong password); its stdout, stderr (log lines included) and the
ledger rows must hold no fragment of any secret.

Commands run in-process through :func:`alembic_guard.cli.main` (Alembic's
own command line with ours added), the way the ``alembic`` executable runs
them, so the whole matrix costs seconds; two runs of the real ``alembic``
executable check its own error printing too.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from alembic_guard import cli
from alembic_guard.testing import GuardedProject, PostgresServer

pytestmark = pytest.mark.db

# random-looking, so that no 6-character piece of one occurs in ordinary output
PLAIN_ROLE, PLAIN_SECRET = "ag_sec_plain", "Zq9kLgnW7xSq"
ENC_ROLE, ENC_SECRET = "ag_sec_enc", "Zq9@eNc/V4:&=+ x%"  # needs percent-encoding in every URL part
SSL_SECRET = "Zq9sSLk3yVbp"
OPTIONS_SECRET = "Zq9oPtN5mHrc"
WRONG_SECRET = "Zq9wRnG8tJdf"
LEDGER_SECRET = "Zq9lDgR2cKxz"


@dataclass(frozen=True, slots=True)
class Form:
    name: str
    role: str
    template: str  # {host} {port} {db}
    secrets: tuple[str, ...]

    def url(self, host: str, port: int, db: str) -> str:
        return self.template.format(host=host, port=port, db=db)


FORMS = (
    Form(
        "userinfo+sslpassword+options",
        PLAIN_ROLE,
        f"postgresql+psycopg2://{PLAIN_ROLE}:{PLAIN_SECRET}@{{host}}:{{port}}/{{db}}"
        f"?sslpassword={SSL_SECRET}&options={quote('-c app.password=' + OPTIONS_SECRET, safe='')}",
        (PLAIN_SECRET, SSL_SECRET, OPTIONS_SECRET),
    ),
    Form(
        "query-password",
        PLAIN_ROLE,
        f"postgresql+psycopg2://{PLAIN_ROLE}@{{host}}:{{port}}/{{db}}?password={PLAIN_SECRET}",
        (PLAIN_SECRET,),
    ),
    Form(
        "userinfo-percent-encoded",
        ENC_ROLE,
        f"postgresql+psycopg2://{ENC_ROLE}:{quote(ENC_SECRET, safe='')}@{{host}}:{{port}}/{{db}}",
        (ENC_SECRET,),
    ),
    Form(
        "query-percent-encoded",
        ENC_ROLE,
        f"postgresql+psycopg2://{ENC_ROLE}@{{host}}:{{port}}/{{db}}?password={quote(ENC_SECRET, safe='')}",
        (ENC_SECRET,),
    ),
)


def fragments(secrets: tuple[str, ...]) -> set[str]:
    """Every 6-character piece of each secret, as written and percent-encoded: a partial leak is a leak."""
    out: set[str] = set()
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote(secret, safe="").replace("%20", "+")}:
            out.update(form[i : i + 6] for i in range(len(form) - 5))
    return out


ALL_FRAGMENTS = fragments((PLAIN_SECRET, ENC_SECRET, SSL_SECRET, OPTIONS_SECRET, WRONG_SECRET, LEDGER_SECRET))


def assert_no_secret(text: str, what: str) -> None:
    leaked = sorted(f for f in ALL_FRAGMENTS if f in text)
    assert not leaked, f"{what} shows secret fragments {leaked}:\n{text}"


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str  # stderr, log records included

    @property
    def all(self) -> str:
        return self.out + self.err


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run_cli(project: GuardedProject, *args: str, database_url: str | None) -> Run:
    """``alembic -c <ini> ARGS`` in-process; DEBUG log records of every logger are captured too."""
    out, err = io.StringIO(), io.StringIO()
    collect = _Collect()
    root = logging.getLogger()
    old_level, root.level = root.level, logging.DEBUG
    root.addHandler(collect)
    saved = os.environ.get("DATABASE_URL")
    if database_url is None:
        os.environ.pop("DATABASE_URL", None)
    else:
        os.environ["DATABASE_URL"] = database_url
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main(["-c", str(project.ini), *args], prog="alembic")
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except Exception:  # what the interpreter would print for the alembic executable
                err.write(traceback.format_exc())
                code = 1
    finally:
        root.removeHandler(collect)
        root.setLevel(old_level)
        if saved is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved
        # a guarded env.py's fileConfig() points handlers at our StringIO: take them down
        for name in ("", "alembic", "alembic_guard", "sqlalchemy.engine"):
            for handler in list(logging.getLogger(name).handlers):
                if getattr(handler, "stream", None) is err:
                    logging.getLogger(name).removeHandler(handler)
    return Run(code, out.getvalue(), err.getvalue() + "\n".join(collect.lines))


# -- the server side: roles with passwords that really are checked ----------------------------------


def _admin(server: PostgresServer) -> sa.Engine:
    return sa.create_engine(server.url("postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _login_fails(server: PostgresServer, role: str) -> bool:
    engine = sa.create_engine(
        f"postgresql+psycopg2://{role}:{WRONG_SECRET}@{server.host}:{server.port}/postgres",
        poolclass=sa.pool.NullPool,
    )
    try:
        with engine.connect():
            return False
    except sa.exc.OperationalError as exc:
        assert "password authentication failed" in str(exc.orig)
        return True
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def roles(pg_server: PostgresServer) -> Iterator[bool]:
    """Create the two roles; make pg_hba check their passwords. Yields whether it does (an own server)."""
    admin = _admin(pg_server)
    with admin.connect() as conn:
        for role, secret in ((PLAIN_ROLE, PLAIN_SECRET), (ENC_ROLE, ENC_SECRET)):
            conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
            conn.execute(
                sa.text(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{secret.replace(chr(39), '')}'")
            )
        hba = Path(conn.exec_driver_sql("SHOW hba_file").scalar_one())
    checked = False
    original = None
    if os.access(hba, os.W_OK):
        original = hba.read_text()
        hba.write_text(f"host all {PLAIN_ROLE},{ENC_ROLE} 127.0.0.1/32 scram-sha-256\n" + original)
        with admin.connect() as conn:
            conn.exec_driver_sql("SELECT pg_reload_conf()")
        # the postmaster reloads asynchronously: wait for the event itself (a refused wrong password)
        for _ in range(500):
            if _login_fails(pg_server, PLAIN_ROLE):
                checked = True
                break
    try:
        yield checked
    finally:
        if original is not None:
            hba.write_text(original)
            with admin.connect() as conn:
                conn.exec_driver_sql("SELECT pg_reload_conf()")
        with admin.connect() as conn:
            for role in (PLAIN_ROLE, ENC_ROLE):
                conn.exec_driver_sql(f"DROP ROLE IF EXISTS {role}")
        admin.dispose()


SQL_FILE = "CREATE TABLE secret_t (id int PRIMARY KEY, note text);\n"
# the secret is not in the revision's source (that is the user's own text): the database builds it
FAILING_REVISION = (
    "op.execute(\"DO $$ BEGIN RAISE EXCEPTION 'cannot reach host=h password=% port=1', "
    f"reverse('{LEDGER_SECRET[::-1]}'); END $$\")"
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, pg_server: PostgresServer, roles: bool) -> Iterator[dict]:
    """One database, a guarded project with one revision imported by guard-import, at head."""
    root = tmp_path_factory.mktemp("secrets")
    sql_dir = root / "sql"
    sql_dir.mkdir()
    (sql_dir / "001_secret_t.sql").write_text(SQL_FILE)
    with pg_server.database() as admin_url:
        db = make_url(admin_url).database
        project = GuardedProject(root / "project", admin_url)
        imported = run_cli(project, "guard-import", str(sql_dir), database_url=None)
        assert imported.code == 0, imported.all
        done = run_cli(project, "upgrade", "head", database_url=admin_url)
        assert done.code == 0, done.all
        yield {"project": project, "db": db, "sql_dir": sql_dir, "checked": roles, "admin_url": admin_url}


def url_of(form: Form, server: PostgresServer, db: str, port: int | None = None) -> str:
    return form.url(server.host, port or server.port, db)


def set_ini_url(project: GuardedProject, url: str | None) -> None:
    """``sqlalchemy.url`` in alembic.ini (``%`` doubled for configparser), or the template's placeholder."""
    text = project.ini.read_text()
    lines = [
        f"sqlalchemy.url = {(url or 'postgresql://user:pass@localhost/dbname').replace('%', '%%')}"
        if line.startswith("sqlalchemy.url =")
        else line
        for line in text.splitlines()
    ]
    project.ini.write_text("\n".join(lines) + "\n")


# (argv, exit codes that mean "it ran", whether the output names the database)
BATTERY: tuple[tuple[tuple[str, ...], tuple[int, ...], bool], ...] = (
    (("guard-status",), (0,), True),
    (("guard-status", "--format", "json"), (0,), True),
    (("guard-check",), (0, 1), True),
    (("guard-check", "--format", "json"), (0, 1), True),
    (("guard-check", "--format", "markdown"), (0, 1), True),
    (("guard-check", "--format", "sarif"), (0, 1), False),
    (("guard-repair",), (0,), True),
    (("guard-repair", "--apply"), (0,), True),
    (("guard-adopt", "--dry-run"), (0,), True),
    (("upgrade", "head"), (0,), False),
)


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_every_command_and_format_masks_the_url_from_database_url(
    setup: dict, pg_server: PostgresServer, form: Form
) -> None:
    project = setup["project"]
    url = url_of(form, pg_server, setup["db"])
    set_ini_url(project, None)
    for argv, codes, names_db in BATTERY:
        run = run_cli(project, *argv, database_url=url)
        assert run.code in codes, (argv, run.all)
        assert_no_secret(run.all, f"{' '.join(argv)} ({form.name})")
        if names_db:
            assert f"{form.role}" in run.all and "***" in run.all, (argv, run.all)
    doc = json.loads(run_cli(project, "guard-status", "--format", "json", database_url=url).out)
    assert doc["database"].startswith(f"postgresql+psycopg2://{form.role}") and "***" in doc["database"]
    plan = run_cli(project, "guard-plan", str(setup["sql_dir"]), "--database", url, database_url=None)
    assert plan.code in (0, 1) and "already exists in the database" in plan.out, plan.all
    assert_no_secret(plan.all, f"guard-plan --database ({form.name})")


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
@pytest.mark.parametrize("delivery", ["sqlalchemy.url", "--database"])
def test_the_url_given_in_alembic_ini_or_database_option_is_masked(
    setup: dict, pg_server: PostgresServer, form: Form, delivery: str
) -> None:
    project = setup["project"]
    url = url_of(form, pg_server, setup["db"])
    if delivery == "sqlalchemy.url":
        set_ini_url(project, url)
        extra: tuple[str, ...] = ()
        commands = [
            ("guard-status", "--format", "json"),
            ("guard-check", "--format", "json"),
            ("upgrade", "head"),
        ]
    else:
        set_ini_url(project, None)
        extra = ("--database", url)
        commands = [
            *(("guard-check", "--format", fmt) for fmt in ("text", "json", "markdown", "sarif")),
            ("guard-repair",),
            ("guard-repair", "--apply"),
            ("guard-adopt", "--dry-run"),
        ]
    try:
        for argv in commands:
            args = (*argv, *extra) if argv[0] != "upgrade" else argv
            run = run_cli(project, *args, database_url=None)
            assert run.code in (0, 1), (args, run.all)
            assert_no_secret(run.all, f"{' '.join(argv)} via {delivery} ({form.name})")
    finally:
        set_ini_url(project, None)


ERROR_COMMANDS: tuple[tuple[str, ...], ...] = (
    ("guard-status",),
    ("guard-status", "--format", "json"),
    ("guard-check", "--format", "json"),
    ("guard-repair",),
    ("guard-adopt", "--dry-run"),
    ("upgrade", "head"),
)


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_refused_connection_errors_show_no_secret(setup: dict, pg_server: PostgresServer, form: Form) -> None:
    project = setup["project"]
    closed = url_of(form, pg_server, setup["db"], port=1)
    set_ini_url(project, None)
    for argv in ERROR_COMMANDS:
        run = run_cli(project, *argv, database_url=closed)
        assert run.code != 0, (argv, run.all)
        assert_no_secret(run.all, f"{' '.join(argv)} on a closed port ({form.name})")
    plan = run_cli(project, "guard-plan", str(setup["sql_dir"]), "--database", closed, database_url=None)
    assert plan.code == 2, plan.all
    assert plan.err.startswith("FAILED: cannot connect to postgresql+psycopg2://"), plan.err
    assert_no_secret(plan.all, f"guard-plan on a closed port ({form.name})")


@pytest.mark.parametrize("form", FORMS, ids=lambda f: f.name)
def test_a_wrong_password_is_refused_and_not_shown(
    setup: dict, pg_server: PostgresServer, form: Form
) -> None:
    if not setup["checked"]:
        pytest.skip("the server's pg_hba.conf is not ours to change: passwords are not checked")
    project = setup["project"]
    secret = form.secrets[0]
    wrong = url_of(form, pg_server, setup["db"]).replace(quote(secret, safe=""), WRONG_SECRET)
    wrong = wrong.replace(secret, WRONG_SECRET)
    assert WRONG_SECRET in wrong
    for argv in ERROR_COMMANDS:
        run = run_cli(project, *argv, database_url=wrong)
        assert run.code != 0, (argv, run.all)
        assert "password authentication failed" in run.all, (argv, run.all)
        assert_no_secret(run.all, f"{' '.join(argv)} with a wrong password ({form.name})")


def test_the_real_executable_prints_no_secret_on_errors(setup: dict, pg_server: PostgresServer) -> None:
    """The ``alembic`` executable itself (its own error printing, logging set up by env.py)."""
    project = setup["project"]
    set_ini_url(project, None)
    form = FORMS[1]  # the query password: printed in clear before issue 14
    closed = url_of(form, pg_server, setup["db"], port=1)
    wrong = url_of(form, pg_server, setup["db"]).replace(PLAIN_SECRET, WRONG_SECRET)
    for url, argv in (
        (closed, ("guard-status",)),
        (wrong if setup["checked"] else closed, ("upgrade", "head")),
    ):
        done = project.run(*argv, env={**project.env(), "DATABASE_URL": url})
        assert done.returncode != 0, done.stderr
        assert_no_secret(done.stdout + done.stderr, f"alembic {' '.join(argv)}")


def test_ledger_rows_and_logs_hold_no_secret(setup: dict, pg_server: PostgresServer, tmp_path: Path) -> None:
    """A revision whose error echoes a DSN: the ledger row, the log and the status show it masked."""
    with pg_server.database() as admin_url:
        db = make_url(admin_url).database
        assert db is not None
        project = GuardedProject(tmp_path, admin_url)
        project.add_revision("leak1", None, FAILING_REVISION)
        url = url_of(FORMS[0], pg_server, db)
        run = run_cli(project, "upgrade", "head", database_url=url)
        assert run.code == 1, run.all
        assert "cannot reach host=h password=***" in run.all, run.all
        assert_no_secret(run.all, "upgrade of a failing revision")
        status = run_cli(project, "guard-status", "--format", "json", database_url=url)
        assert_no_secret(status.all, "guard-status after a failure")
        engine = sa.create_engine(admin_url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT to_jsonb(l)::text FROM alembic_guard_log l").scalars().all()
        engine.dispose()
        assert rows and any("password=***" in r for r in rows), rows
        assert_no_secret("\n".join(rows), "alembic_guard_log")
