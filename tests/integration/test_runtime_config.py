"""Settings: profiles, pyproject / alembic.ini sections, ALEMBIC_GUARD_* variables, bad values."""

from __future__ import annotations

import pytest

from alembic_guard.errors import UsageError
from alembic_guard.runtime.config import PROFILES, load_settings, parse_duration_ms


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("5s", 5000),
        ("500ms", 500),
        ("2min", 120000),
        ("1.5", 1500),
        (3, 3000),
        ("1h", 3600000),
        ("off", None),
    ],
)
def test_parse_duration(text, ms):
    assert parse_duration_ms(text, key="k", where="w") == ms


def test_profile_defaults_and_ci_detection(tmp_path):
    assert load_settings(pyproject_path=tmp_path / "none.toml", environ={}).profile == "dev"
    ci = load_settings(pyproject_path=tmp_path / "none.toml", environ={"CI": "true"})
    assert (ci.profile, ci.policy) == ("ci", "strict")
    prod = load_settings(pyproject_path=tmp_path / "none.toml", environ={}, profile="prod")
    assert prod == PROFILES["prod"].__class__(**{**_fields(PROFILES["prod"]), "sources": ("profile prod",)})
    assert (prod.policy, prod.concurrent_indexes, prod.allow_destructive) == ("lenient", True, False)


def _fields(s):
    return {name: getattr(s, name) for name in s.__slots__}


def test_precedence_pyproject_ini_env_overrides(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.alembic_guard]\nprofile = "prod"\nlock_timeout = "2s"\nretries = 7\n'
        '[tool.alembic_guard.profiles.prod]\nlock_wait = "90s"\n'
    )
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "[alembic]\nscript_location = x\n[alembic_guard]\nretries = 4\n"
        "[alembic_guard:prod]\npolicy = strict\n"
    )
    s = load_settings(ini_path=ini, environ={})
    assert (s.profile, s.lock_timeout_ms, s.lock_wait_s, s.retries, s.policy) == (
        "prod",
        2000,
        90.0,
        4,
        "strict",
    )
    assert s.lock_timeout == "2000ms"
    s = load_settings(
        ini_path=ini, environ={"ALEMBIC_GUARD_RETRIES": "1", "ALEMBIC_GUARD_LOCK_TIMEOUT": "off"}
    )
    assert (s.retries, s.lock_timeout_ms, s.lock_timeout) == (1, None, None)
    s = load_settings(ini_path=ini, environ={"ALEMBIC_GUARD_PROFILE": "dev"}, overrides={"policy": "lenient"})
    assert (s.profile, s.policy, s.retries) == ("dev", "lenient", 4)
    assert any("alembic.ini [alembic_guard]" in src for src in s.sources)


@pytest.mark.parametrize(
    ("ini_body", "env", "fragment"),
    [
        ("[alembic_guard]\nlock_timeout = soon\n", {}, "alembic.ini [alembic_guard]: lock_timeout = 'soon'"),
        ("[alembic_guard]\npolicy = maybe\n", {}, "policy = 'maybe' is not a policy"),
        ("[alembic_guard]\nretries = -1\n", {}, "retries = '-1' is not a count"),
        ("[alembic_guard]\nfrobnicate = 1\n", {}, "unknown setting 'frobnicate'"),
        ("[alembic_guard]\nprofile = staging\n", {}, "unknown profile 'staging'"),
        ("", {"ALEMBIC_GUARD_CONCURRENT_INDEXES": "perhaps"}, "$ALEMBIC_GUARD_CONCURRENT_INDEXES"),
    ],
)
def test_bad_values_name_the_key_and_the_file(tmp_path, ini_body, env, fragment):
    ini = tmp_path / "alembic.ini"
    ini.write_text(ini_body)
    with pytest.raises(UsageError) as info:
        load_settings(ini_path=ini, environ=env)
    assert fragment in info.value.message
    assert info.value.hint
    assert info.value.exit_code == 2


def test_bad_toml_is_a_usage_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.alembic_guard\n")
    with pytest.raises(UsageError, match=r"pyproject\.toml: not valid TOML"):
        load_settings(ini_path=tmp_path / "alembic.ini", environ={})
