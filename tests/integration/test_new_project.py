"""A new user's first hour, as the quickstart tells it, from a wheel built from this checkout.

A fresh virtual environment gets the wheel (``pip install``, not editable);
its dependencies come from this suite's own environment (a ``.pth`` file
naming its site-packages, after the new environment's own), so the test needs
no package index and takes seconds.  Then: ``guard-init``, a model and
``alembic revision --autogenerate``, a bare ``DATABASE_URL=postgresql://...``,
``upgrade head`` twice, ``guard-status``, ``guard-check`` offline and live in
every format, ``upgrade_on_startup("alembic.ini")``, the pytest plugin's
standard tests next to pytest-alembic's (docs/testing.md's recipe) — under psycopg 3, and
again where only psycopg2 can be imported.  The wheel is built once per session.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.db

ROOT = Path(__file__).resolve().parents[2]
PIP = (sys.executable, "-m", "pip", "-q", "--disable-pip-version-check")
VERBOSE_PIP = (sys.executable, "-m", "pip", "-v", "--disable-pip-version-check")

MODELS = """\
import sqlalchemy as sa

metadata = sa.MetaData()

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text),
    sa.UniqueConstraint("email", name="uq_users_email"),
    sa.Index("ix_users_name", "name"),
)
"""

# docs/testing.md's recipe: one tests/conftest.py for pytest-alembic and alembic_guard's standard tests
CONFTEST = """\
import pytest
import sqlalchemy as sa
from pytest_alembic.config import Config

@pytest.fixture
def alembic_config(alembic_guard_db):
    return Config(config_options={"file": "alembic.ini", "sqlalchemy.url": alembic_guard_db})

@pytest.fixture
def alembic_engine(alembic_guard_db):
    engine = sa.create_engine(alembic_guard_db)
    yield engine
    engine.dispose()
"""

PYTEST_INI = """\
[pytest]
alembic_guard_standard_tests = true
alembic_guard_metadata = models:metadata
pytest_alembic_tests_path = tests/pytest_alembic_collects_nothing_here.py
"""

PYTEST_TESTS = (
    "test_single_head_revision",
    "test_upgrade",
    "test_alembic_guard_single_head",
    "test_alembic_guard_upgrade_from_empty",
    "test_alembic_guard_upgrade_twice_is_noop",
    "test_alembic_guard_roundtrip",  # [the revision id]: the one revision
    "test_alembic_guard_models_match_head",
)


def write_pytest_project(project: Path) -> None:
    (project / "tests").mkdir()
    (project / "tests" / "conftest.py").write_text(CONFTEST)
    (project / "tests" / "test_migrations.py").write_text(
        "from pytest_alembic.tests import test_single_head_revision, test_upgrade\n"
    )
    (project / "pytest.ini").write_text(PYTEST_INI)


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel --no-deps`` of a copy of the checkout (the build writes egg-info into its source)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "alembic_guard", src / "alembic_guard", ignore=ignore)
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = work / "dist"
    build = subprocess.run(
        # -v: the build's own output, where setuptools would warn that a template package is "absent"
        [*VERBOSE_PIP, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(src)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "Package would be ignored" not in build.stdout + build.stderr  # templates declared, not "absent"
    (found,) = out.glob("alembic_pg_guard-*.whl")
    return found


def make_venv(root: Path, wheel: Path, *, hide: tuple[str, ...] = ()) -> Path:
    """A new environment with the wheel installed; ``hide``: modules that must not import there."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    install = subprocess.run(
        [*PIP, "--python", str(py), "install", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    for name in hide:  # a package that is "not installed": importing it fails, as it would
        (site / name).mkdir()
        (site / name / "__init__.py").write_text(f'raise ImportError("No module named {name}")\n')
    # the dependencies: this suite's environment, after the new one's own site-packages
    (site / "zz_suite_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # what pip writes for Alembic's console script (Alembic itself comes from the suite's environment)
    alembic = venv / "bin" / "alembic"
    alembic.write_text(f"#!{py}\nimport sys\nfrom alembic.config import main\nsys.exit(main())\n")
    alembic.chmod(0o755)
    return venv


@pytest.mark.parametrize("only_psycopg2", [False, True], ids=["psycopg3", "psycopg2-only"])
def test_new_project_from_the_wheel(tmp_path, wheel, pg_server, only_psycopg2):
    venv = make_venv(tmp_path, wheel, hide=("psycopg",) if only_psycopg2 else ())
    project = tmp_path / "myapp"
    project.mkdir()
    with pg_server.database() as url:
        bare = "postgresql://" + url.split("://", 1)[1]
        hidden = ("ALEMBIC_GUARD_", "PYTHON", "PYTEST_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(hidden)}
        env.pop("CI", None)
        env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", DATABASE_URL=bare)

        def run(*argv: str, code: int | tuple[int, ...] = 0) -> subprocess.CompletedProcess[str]:
            proc = subprocess.run(
                list(argv), cwd=project, env=env, capture_output=True, text=True, timeout=300
            )
            codes = (code,) if isinstance(code, int) else code
            assert proc.returncode in codes, f"{argv}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
            assert "Traceback" not in proc.stderr, proc.stderr
            return proc

        # the installed package, not this checkout
        where = run("python", "-c", "import alembic_guard, psycopg2; print(alembic_guard.__file__)")
        assert where.stdout.strip().startswith(str(venv)), where.stdout
        version = run("alembic-guard", "--version")
        assert version.stdout.startswith("alembic-guard 0.1.0 (alembic-pg-guard; alembic "), version.stdout
        assert "guard-init" in run("alembic", "--help").stdout
        # the demo runs a checkout's example app, which the package does not ship: it says so
        demo = run("python", "-m", "alembic_guard.demo", code=2)
        assert demo.stderr.startswith("FAILED: the demo needs the example application"), demo.stderr

        run("alembic", "guard-init", "migrations")
        (project / "models.py").write_text(MODELS)
        env_py = project / "migrations" / "env.py"
        env_py.write_text(
            env_py.read_text().replace(
                "target_metadata = None", "from models import metadata as target_metadata"
            )
        )
        run("alembic", "revision", "--autogenerate", "-m", "create users")
        (revision,) = (project / "migrations" / "versions").glob("*_create_users.py")
        assert "op.create_table" in revision.read_text()

        first = run("alembic", "upgrade", "head")
        assert "[alembic_guard] applied" in first.stderr, first.stderr
        second = run("alembic", "upgrade", "head")
        assert "nothing to do" in second.stderr, second.stderr

        status = run("alembic", "guard-status")
        assert "1 applied, 0 pending, 0 failed" in status.stdout
        doc = json.loads(run("alembic", "guard-status", "--format", "json").stdout)
        driver = "psycopg2" if only_psycopg2 else "psycopg"
        assert doc["database"].startswith(f"postgresql+{driver}://"), doc["database"]

        for live in ((), ("--offline",)):
            # a fresh autogenerated revision (table, index, unique constraint) passes the CI gate
            # under the profile production runs (quickstart, "guard-check in CI")
            gate = run("alembic", "guard-check", *live, "--strict", "--profile", "prod")
            assert "OK: 0 error(s), 0 warning(s)" in gate.stdout, gate.stdout
            for fmt in ("text", "json", "markdown", "sarif"):
                check = run("alembic", "guard-check", *live, "--format", fmt, code=(0, 1))
                if fmt in ("json", "sarif"):
                    json.loads(check.stdout)
                assert check.stdout.strip(), (live, fmt)

        code = "import alembic_guard; r = alembic_guard.upgrade_on_startup('alembic.ini')"
        startup = run("python", "-c", code + "; print(r.applied, r.profile)")
        assert startup.stdout.strip() == "() prod", startup.stdout

        # the pytest plugin next to pytest-alembic, as docs/testing.md sets them up (pytest and
        # pytest-alembic come from the suite's environment, like every dependency here)
        write_pytest_project(project)
        env["ALEMBIC_GUARD_TEST_URL"] = "postgresql://" + pg_server.url("postgres").split("://", 1)[1]
        # pytest-postgresql is this suite's, not the project's (and needs psycopg 3)
        no = ("-p", "no:cacheprovider", "-p", "no:pytest_postgresql")
        tests = run("python", "-m", "pytest", *no, "-v")
        found = re.findall(r"::(test_[^\s\[]+)(?:\[\w+\])? (PASSED|FAILED|SKIPPED|ERROR)", tests.stdout)
        outcome = dict(found)
        assert outcome == dict.fromkeys(PYTEST_TESTS, "PASSED"), tests.stdout
        del env["ALEMBIC_GUARD_TEST_URL"]

        # a connection problem is one line, exit 2, whatever the driver
        env["DATABASE_URL"] = bare.replace(f":{pg_server.port}/", ":1/")
        refused = run("alembic", "upgrade", "head", code=2)
        assert refused.stderr.startswith(f"FAILED: cannot connect to postgresql+{driver}://"), refused.stderr
