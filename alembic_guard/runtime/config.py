"""Runtime settings: profiles, ``pyproject.toml`` / ``alembic.ini`` sections, ``ALEMBIC_GUARD_*`` variables.

Pure: reads only the text of the files it is given (or finds next to
``alembic.ini``) and the environment mapping passed in.  Precedence, lowest
first: the profile's defaults, ``[tool.alembic_guard]`` in ``pyproject.toml``
(then its ``[tool.alembic_guard.profiles.<name>]`` table), the
``[alembic_guard]`` section of ``alembic.ini`` (then ``[alembic_guard:<name>]``),
``ALEMBIC_GUARD_*`` environment variables, explicit keyword overrides.

Durations accept ``ms``, ``s``, ``min`` and ``h`` (a bare number means
seconds); ``0``, ``off`` or ``none`` switch a timeout off.  Every value is
checked when it is read, ranges included (PostgreSQL takes at most
2147483647 ms for a timeout), and a file that cannot be read as what it claims
to be (TOML, INI, UTF-8) is a :class:`UsageError` naming the file, the key and
the value: nothing runs on a half-understood configuration.

:class:`RuntimeSettings` is the one settings model: the runtime, the guarded
operations (:class:`alembic_guard.ops.GuardContext`) and guard-repair all take
it.  Its defaults are the ``dev`` profile's.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from alembic_guard.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Policy = Literal["strict", "lenient"]

ENV_PREFIX = "ALEMBIC_GUARD_"

# ALEMBIC_GUARD_* variables that are not runtime settings: the test server
# URL, golden-file regeneration, the docs base URL of reports.  Any other
# unknown ALEMBIC_GUARD_* variable is a typo worth an error.
NON_SETTING_VARIABLES = frozenset(
    {
        ENV_PREFIX + "TEST_URL",
        ENV_PREFIX + "TEST_DRIVER",
        ENV_PREFIX + "UPDATE_GOLDEN",
        ENV_PREFIX + "DOCS_URL",
        ENV_PREFIX + "PROFILE",
    }
)


# [tool.alembic_guard] keys read by guard-plan / guard-import (alembic_guard.outside), not settings
PLANNING_KEYS = frozenset({"outside_objects", "outside_sql"})


@dataclass(frozen=True, slots=True)
class RuntimeSettings:
    """How careful the runtime and the guarded operations are; the defaults are the ``dev`` profile."""

    profile: str = "dev"
    policy: Policy = "lenient"
    lock_wait_s: float = 60.0  # how long a replica waits for the migration lock before giving up
    lock_timeout_ms: int | None = 5000  # per statement: give up waiting for a table lock after this
    statement_timeout_ms: int | None = None
    retries: int = 3  # re-runs of a revision that hit lock_timeout (SQLSTATE 55P03)
    retry_backoff_s: float = 0.5
    concurrent_indexes: bool = False
    allow_destructive: bool = True
    preflight: bool = True
    # the PostgreSQL major version the migrations target, for checks without a
    # database (guard-check --offline, guard-plan); a live server's own wins
    server_version: int | None = None
    # the search_path the migrations run under (a role's or database's SET search_path:
    # unqualified names are created in its first schema), for analysis without a
    # database (guard-plan, guard-import, guard-check --offline); a live session's own wins
    search_path: tuple[str, ...] | None = None
    # a URL that reaches PostgreSQL itself, not a pooler: the lock and the migration use it
    # (DATABASE_URL often points at PgBouncer on managed platforms)
    direct_url: str | None = None
    # behind a transaction-mode pooler the lock is a lease row: a holder that dies silently
    # frees it after this long (it renews it every third of it while alive)
    lock_lease_s: float = 30.0
    # log an index build's progress (pg_stat_progress_create_index) this often; None: never
    progress_every_s: float | None = 5.0
    sources: tuple[str, ...] = ()  # where the values came from, for messages

    @property
    def lock_timeout(self) -> str | None:
        """The value for PostgreSQL's ``SET lock_timeout`` (``None``: leave the server's)."""
        return None if self.lock_timeout_ms is None else f"{self.lock_timeout_ms}ms"

    @property
    def statement_timeout(self) -> str | None:
        return None if self.statement_timeout_ms is None else f"{self.statement_timeout_ms}ms"


PROFILES: dict[str, RuntimeSettings] = {
    # A developer's machine: skip-and-log what cannot apply, fail fast on a busy lock.
    "dev": RuntimeSettings(),
    # CI must fail on anything a production run would have to skip.
    "ci": RuntimeSettings(profile="ci", policy="strict", lock_wait_s=300.0, lock_timeout_ms=10000, retries=1),
    # Start-up in production: never block readers for long, retry, build indexes concurrently,
    # never drop anything unless told to.
    "prod": RuntimeSettings(
        profile="prod",
        policy="lenient",
        lock_wait_s=600.0,
        lock_timeout_ms=3000,
        retries=5,
        retry_backoff_s=1.0,
        concurrent_indexes=True,
        allow_destructive=False,
    ),
}

_KEYS = {f.name for f in fields(RuntimeSettings)} - {"sources", "profile"}
# Friendlier spellings accepted in files and the environment.
_ALIASES = {
    "lock_wait": "lock_wait_s",
    "lock_lease": "lock_lease_s",
    "progress_every": "progress_every_s",
    "lock_timeout": "lock_timeout_ms",
    "statement_timeout": "statement_timeout_ms",
    "retry_backoff": "retry_backoff_s",
    "concurrent_index_builds": "concurrent_indexes",
    "destructive": "allow_destructive",
}

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|h)?\s*$", re.IGNORECASE)
_UNIT_MS = {"ms": 1.0, "s": 1000.0, "sec": 1000.0, "min": 60000.0, "h": 3600000.0, None: 1000.0}
MAX_DURATION_MS = 2_147_483_647
"""PostgreSQL's limit for ``lock_timeout`` / ``statement_timeout`` (INT_MAX ms, about 24.8 days);
the same bound keeps the waits and back-off of the runtime finite."""
MAX_RETRIES = 100


def parse_duration_ms(value: Any, *, key: str, where: str, allow_off: bool = True) -> int | None:
    """``"5s"`` → 5000; ``"off"`` → None; a bare number means seconds."""
    if isinstance(value, bool):
        raise UsageError(f"{where}: {key} = {value!r} is not a duration", hint='write e.g. "5s" or "500ms"')
    if isinstance(value, (int, float)):
        text = str(value)
    else:
        text = str(value).strip()
    if allow_off and text.lower() in {"0", "off", "none", "false", ""}:
        return None
    m = _DURATION_RE.match(text)
    if not m:
        raise UsageError(
            f"{where}: {key} = {value!r} is not a duration",
            hint='write a number with a unit: "500ms", "5s", "2min" ("off" disables it)',
        )
    unit = m.group(2).lower() if m.group(2) else None
    ms = float(m.group(1)) * _UNIT_MS[unit]
    if not ms <= MAX_DURATION_MS:  # also catches an overflow to inf
        raise UsageError(
            f"{where}: {key} = {value!r} is too long (at most {MAX_DURATION_MS} ms, about 24 days)",
            hint='write a shorter duration, e.g. "10min", or "off" to disable it',
        )
    return round(ms)


def _parse_bool(value: Any, *, key: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise UsageError(f"{where}: {key} = {value!r} is not a boolean", hint="write true or false")


def _coerce(key: str, value: Any, where: str) -> tuple[str, Any]:
    name = _ALIASES.get(key, key)
    if name not in _KEYS:
        known = ", ".join(sorted({*_KEYS, *_ALIASES, "profile"}))
        raise UsageError(f"{where}: unknown setting {key!r}", hint=f"known settings: {known}")
    if name == "policy":
        text = str(value).strip().lower()
        if text not in ("strict", "lenient"):
            raise UsageError(f"{where}: policy = {value!r} is not a policy", hint="use strict or lenient")
        return name, text
    if name in ("lock_timeout_ms", "statement_timeout_ms"):
        return name, parse_duration_ms(value, key=key, where=where)
    if name == "direct_url":
        text = str(value).strip()
        if not text or "://" not in text:
            from alembic_guard.redact import mask_url

            raise UsageError(
                f"{where}: direct_url = {mask_url(text)!r} is not a database URL",
                hint="write postgresql://user:password@host:5432/dbname (the server itself, not the pooler)",
            )
        return name, text
    if name == "search_path":
        return name, parse_search_path_setting(value, where=where)
    if name == "progress_every_s":
        ms = parse_duration_ms(value, key=key, where=where)
        return name, None if ms is None else ms / 1000.0
    if name == "lock_lease_s":
        ms = parse_duration_ms(value, key=key, where=where, allow_off=False)
        if ms is None or ms < 1000:
            raise UsageError(f"{where}: {key} = {value!r} is too short", hint='a lease of at least "1s"')
        return name, ms / 1000.0
    if name in ("lock_wait_s", "retry_backoff_s"):
        ms = parse_duration_ms(value, key=key, where=where)
        return name, 0.0 if ms is None else ms / 1000.0
    if name == "server_version":
        text = str(value).strip()
        # "15", "15.4" and 150004 all name PostgreSQL 15
        m = re.fullmatch(r"(\d+)(?:\.\d+)?", text)
        major = int(m.group(1)) if m and not isinstance(value, bool) else 0
        if major >= 100000:
            major //= 10000
        if not 9 <= major <= 99:
            raise UsageError(
                f"{where}: server_version = {value!r} is not a PostgreSQL major version",
                hint="write the major version the servers run, e.g. 15",
            )
        return name, major
    if name == "retries":
        try:
            n = int(str(value).strip())
        except ValueError:
            n = -1
        if n < 0 or isinstance(value, bool):
            raise UsageError(f"{where}: retries = {value!r} is not a count", hint="use a whole number ≥ 0")
        if n > MAX_RETRIES:
            raise UsageError(
                f"{where}: retries = {value!r} is too many",
                hint=f"use a whole number from 0 to {MAX_RETRIES}",
            )
        return name, n
    return name, _parse_bool(value, key=key, where=where)


def parse_search_path_setting(value: Any, *, where: str) -> tuple[str, ...]:
    """A declared ``search_path`` (``"storage, public"`` or a list) as schemas; ``$user`` and
    ``pg_catalog`` are no place a migration creates in, and are left out."""
    from alembic_guard.search_path import split_search_path

    text = ", ".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)
    path = tuple(s for s in split_search_path(text) if s not in ("$user", "pg_catalog"))
    if not path:
        raise UsageError(
            f"{where}: search_path = {value!r} names no schema",
            hint='write the schemas the migrations run with, first one first, e.g. "app, public"',
        )
    return path


def _check_profile(name: str, where: str) -> str:
    text = str(name).strip().lower()
    if text not in PROFILES:
        raise UsageError(
            f"{where}: unknown profile {name!r}", hint=f"use one of: {', '.join(sorted(PROFILES))}"
        )
    return text


def _read_text(path: Path) -> str | None:
    """The file's text; ``None`` when it cannot be opened; bytes that are not UTF-8 are a UsageError."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UsageError(
            f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            hint="save the file as UTF-8",
        ) from None


def _read_pyproject(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    text = _read_text(path)
    if text is None:
        return {}, {}
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}", hint="fix the file's syntax") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise UsageError(f"{path}: tool = {tool!r} must be a table", hint="write [tool.alembic_guard]")
    section = tool.get("alembic_guard", {})
    if not isinstance(section, dict):
        raise UsageError(
            f"{path}: [tool.alembic_guard] must be a table, not {section!r}",
            hint='write [tool.alembic_guard] with keys such as profile = "prod"',
        )
    profiles = section.get("profiles", {})
    if not isinstance(profiles, dict):
        raise UsageError(
            f"{path}: [tool.alembic_guard] profiles = {profiles!r} must be a table of profiles",
            hint="write [tool.alembic_guard.profiles.prod] and its keys",
        )
    for name, table in profiles.items():
        where = f"{path} [tool.alembic_guard.profiles.{name}]"
        _check_profile(str(name), where)
        if not isinstance(table, dict):
            raise UsageError(
                f"{where}: must be a table of settings, not {table!r}",
                hint=f'write [tool.alembic_guard.profiles.{name}] and keys such as lock_timeout = "3s"',
            )
    flat = {k: v for k, v in section.items() if k != "profiles"}
    return flat, {str(k).lower(): v for k, v in profiles.items()}


def read_ini(path: str | os.PathLike[str]) -> configparser.ConfigParser | None:
    """``path`` parsed as Alembic parses it (no interpolation check here); ``None`` when it cannot be opened.

    A duplicate section or key, a line outside any section, or bytes that are
    not UTF-8 are a :class:`UsageError` naming the file and line: Alembic's
    own reader would stop with a traceback.  Read-only.
    """
    text = _read_text(Path(path))
    if text is None:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        first = " ".join(str(exc).split())
        raise UsageError(
            f"{path}: not a valid INI file: {first}", hint="fix or remove the offending line"
        ) from None
    return parser


def _read_ini(path: Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    parser = read_ini(path)
    if parser is None:
        return {}, {}
    base: dict[str, Any] = dict(parser["alembic_guard"]) if parser.has_section("alembic_guard") else {}
    profiles: dict[str, dict[str, Any]] = {}
    for section in parser.sections():
        if section.startswith("alembic_guard:"):
            name = _check_profile(section.split(":", 1)[1], f"{path} [{section}]")
            profiles[name] = dict(parser[section])
    return base, profiles


def make_settings(profile: str = "dev", **values: Any) -> RuntimeSettings:
    """``profile``'s settings with ``values`` (friendly spellings: ``lock_timeout="2s"``), checked.

    For code that builds settings itself (tests, tools, guard-repair); a run
    reads them with :func:`load_settings`.  Raises :class:`UsageError`.
    """
    chosen = _check_profile(profile, "profile argument")
    coerced = dict(_coerce(key, value, "argument") for key, value in values.items())
    return replace(PROFILES[chosen], **coerced)


def load_settings(
    *,
    ini_path: str | os.PathLike[str] | None = None,
    pyproject_path: str | os.PathLike[str] | None = None,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    default_profile: str | None = None,
) -> RuntimeSettings:
    """Settings for one run.  Bad values raise :class:`UsageError` naming the key and the file.

    ``pyproject_path`` defaults to ``pyproject.toml`` beside ``ini_path`` (or in
    the working directory).  The profile is, first found: ``profile``,
    ``ALEMBIC_GUARD_PROFILE``, ``profile`` in ``alembic.ini``, then in
    ``pyproject.toml``, then ``default_profile``, then ``ci`` when the ``CI``
    variable is set (as CI services do), else ``dev``.
    """
    env = os.environ if environ is None else environ
    if pyproject_path is None:
        base_dir = Path(ini_path).resolve().parent if ini_path else Path.cwd()
        pyproject_path = base_dir / "pyproject.toml"
    py_path = Path(pyproject_path)
    py_base, py_profiles = _read_pyproject(py_path) if py_path.is_file() else ({}, {})
    ini_base, ini_profiles = _read_ini(Path(ini_path)) if ini_path else ({}, {})

    chosen: str
    if profile:
        chosen = _check_profile(profile, "profile argument")
    elif env.get(ENV_PREFIX + "PROFILE"):
        chosen = _check_profile(env[ENV_PREFIX + "PROFILE"], f"${ENV_PREFIX}PROFILE")
    elif "profile" in ini_base:
        chosen = _check_profile(ini_base["profile"], f"{ini_path} [alembic_guard]")
    elif "profile" in py_base:
        chosen = _check_profile(py_base["profile"], f"{py_path} [tool.alembic_guard]")
    elif default_profile:
        chosen = _check_profile(default_profile, "default profile")
    else:
        chosen = "ci" if env.get("CI", "").lower() in {"1", "true", "yes"} else "dev"

    values: dict[str, Any] = {}
    sources: list[str] = [f"profile {chosen}"]
    layers: list[tuple[str, Mapping[str, Any]]] = [
        (f"{py_path} [tool.alembic_guard]", py_base),
        (f"{py_path} [tool.alembic_guard.profiles.{chosen}]", py_profiles.get(chosen, {})),
        (f"{ini_path} [alembic_guard]", ini_base),
        (f"{ini_path} [alembic_guard:{chosen}]", ini_profiles.get(chosen, {})),
    ]
    for where, layer in layers:
        used = False
        for key, value in layer.items():
            if key == "profile" or key in PLANNING_KEYS:
                continue
            name, coerced = _coerce(str(key).lower(), value, where)
            values[name] = coerced
            used = True
        if used:
            sources.append(where)
    for var, raw in sorted(env.items()):
        if not var.startswith(ENV_PREFIX) or var in NON_SETTING_VARIABLES:
            continue
        name, coerced = _coerce(var[len(ENV_PREFIX) :].lower(), raw, f"${var}")
        values[name] = coerced
        sources.append(f"${var}")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        name, coerced = _coerce(key, value, "argument")
        values[name] = coerced
    return replace(PROFILES[chosen], **values, sources=tuple(sources))
