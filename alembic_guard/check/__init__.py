"""``guard-check``: collect every finding about a project's revisions into one :class:`Report`.

:func:`collect` is the whole pipeline: static checks of the script
directory (:mod:`.static`, no database), then, with a database URL and not
``offline``, the live checks (:mod:`.live`) and, for a PR review, the
autogenerate comparison (:mod:`.review`).  Rendering is elsewhere
(:mod:`alembic_guard.output`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import alembic_guard
from alembic_guard.errors import UsageError
from alembic_guard.output.report import Report, Section

__all__ = ["CheckOptions", "collect"]


@dataclass(frozen=True, slots=True)
class CheckOptions:
    base: str | None = None
    url: str | None = None  # None or offline: static checks only
    offline: bool = False
    strict: bool = False
    metadata: str | None = None  # "module:attr"
    review: bool = False  # compute the autogenerate diff (PR review)
    version_table: str = "alembic_version"  # as env.py passes it to context.configure
    version_table_schema: str | None = None
    profile: str | None = None  # judge ops by what the guarded runtime does under it (default: configured)


def collect(config: Any, options: CheckOptions) -> Report:
    """Check the revisions of ``config``'s script directory.

    Reads the revision files; with a URL (and not offline) reads the database
    (never writes it, except a scratch database for the PR review, created and dropped).
    Unqualified names resolve through the database's ``search_path`` as the
    role sees it, else the declared ``search_path`` setting (see
    :mod:`alembic_guard.search_path`).
    """
    from alembic_guard.search_path import resolving_in, search_path_of

    live_wanted = bool(options.url) and not options.offline
    configured = _settings(config, options.profile)
    path = configured.search_path if configured is not None else None
    server_version = configured.server_version if configured is not None else None
    if not live_wanted:
        with resolving_in(path):
            return _collect(config, options, None, server_version)
    from sqlalchemy import exc as sa_exc

    from alembic_guard.check import live
    from alembic_guard.live.catalog import server_major_version

    assert options.url is not None
    engine = live.connect(options.url)
    try:
        # Only a failure to *connect* is "cannot connect" (exit 2); a database
        # error during the checks (permission denied, statement_timeout, a bug
        # in our own SQL) must surface as what it is.
        try:
            conn = engine.connect()
        except sa_exc.DBAPIError as exc:
            raise live.connection_error(options.url or "", exc) from None
        with conn:
            # the PostgreSQL version the revisions will meet (AG701): the live server's
            server_version = server_major_version(conn)
            path = search_path_of(conn)
            conn.rollback()
            with resolving_in(path):
                return _collect(config, options, conn, server_version)
    finally:
        engine.dispose()


def _collect(config: Any, options: CheckOptions, conn: Any, server_version: int | None) -> Report:
    """:func:`collect` with the connection (``None``: static checks only) and the target version."""
    from alembic_guard.check import static
    from alembic_guard.redact import mask_url

    script_dir = static.load_script_directory(config)
    scripts = static.ordered_scripts(script_dir)
    root = static.project_root(config)
    runs = static.render_all(scripts, root)
    report_from = _report_from(script_dir, [r.revision for r in runs], options.base)
    live_wanted = conn is not None
    guarded = _guarded_env(script_dir.dir)
    settings = _settings(config, options.profile) if guarded else None
    heads_now = [str(h) for h in script_dir.get_heads()]
    lock_timeout_set = settings is not None and settings.lock_timeout is not None
    lr = None
    result = static.check_static(
        runs,
        heads_now,
        report_from=report_from,
        lock_timeout_set=lock_timeout_set,
        guarded=guarded,
        keep_models=live_wanted,
        server_version=server_version,
    )
    if conn is not None:
        from alembic_guard import outside
        from alembic_guard.check import live

        lr = live.check_live(
            conn,
            script_dir,
            runs,
            result.models,
            version_table=options.version_table,
            version_table_schema=options.version_table_schema,
            # what the user declared from outside the set (a previous tool's table) is not drift
            outside=outside.load(pyproject=os.path.join(root, "pyproject.toml")).model,
        )
    findings = list(result.findings)
    if settings is not None:
        findings = _as_the_runtime_runs_them(
            findings, scripts, root, settings, heads_now, report_from, server_version
        )
    infos = result.revisions
    drift = Section("skipped", "not checked: no database (offline, or no URL)")
    drift_items: tuple[Any, ...] = ()
    heads: tuple[str, ...] = ()
    autogen = Section("skipped", "not run: only in a PR review (--base or --metadata) with a database")
    if lr is not None:
        assert options.url is not None
        url = options.url
        findings.extend(lr.findings)
        infos = live.annotate(infos, lr)
        drift, drift_items, heads = lr.drift, tuple(lr.drift_items), lr.heads
        if options.review or options.metadata:
            from alembic_guard.check import review

            metadata = review.load_metadata(config, options.metadata, root)
            autogen = review.autogenerate_section(config, url, metadata)
            findings.extend(
                static.finding("AG651", f"models and migrations differ: {line}", source="autogenerate")
                for line in autogen.items
            )
    elif options.review or options.metadata:
        autogen = Section("skipped", "not run: needs a database (no URL, or --offline)")
    findings = _suppress(findings, runs[report_from:])
    # per-revision findings in revision order, then project-wide ones (heads, live catalog, models)
    order = {r.revision: i for i, r in enumerate(runs)}
    findings.sort(key=lambda f: (order.get(f.revision or "", len(runs)), f.sort_key))
    return Report(
        tool_version=alembic_guard.__version__,
        base=options.base,
        heads=heads,
        database=mask_url(options.url) if live_wanted and options.url else None,
        revisions=tuple(infos),
        findings=tuple(findings),
        drift=drift,
        drift_items=drift_items,
        autogenerate=autogen,
        strict=options.strict,
        config_file=os.path.basename(config.config_file_name or "alembic.ini"),
    )


def _report_from(script_dir: Any, order: list[str], base: str | None) -> int:
    """Index of the first revision after ``base`` (0 without one)."""
    if not base:
        return 0
    try:
        sc = script_dir.get_revision(base)
    except Exception as exc:
        raise UsageError(f"--base {base}: {exc}", hint="pass a revision id from `alembic history`") from None
    if sc is None:
        return 0
    rev = str(sc.revision)
    if rev not in order:  # pragma: no cover - get_revision found it
        raise UsageError(f"--base {base}: unknown revision", hint="pass a revision id from `alembic history`")
    after = {str(s.revision) for s in script_dir.revision_map.iterate_revisions("heads", rev)} - {rev}
    # the revisions after base are a suffix of base-first order only on a linear history;
    # with branches, report those above base and replay the rest first
    idx = [i for i, r in enumerate(order) if r in after]
    return min(idx) if idx else len(order)


def _guarded_env(script_location: str) -> bool:
    """Does env.py run migrations through alembic_guard (guarded ops, lock_timeout per statement)?"""
    try:
        with open(os.path.join(script_location, "env.py"), encoding="utf-8") as fh:
            return "alembic_guard" in fh.read()
    except OSError:
        return False


def _suppress(findings: list[Any], runs: Any) -> list[Any]:
    """Findings without those a ``# alembic-guard: ignore[...]`` comment in their revision file silences."""
    from alembic_guard.check import suppress
    from alembic_guard.lint import get_rule

    rule = get_rule("AG001")
    unused = None
    if rule is not None:
        from alembic_guard.output.report import Finding

        unused = Finding(
            rule.code,
            rule.id,
            rule.severity,
            rule.message,
            "delete the `# alembic-guard: ignore[...]` comment, or fix the code or id it names",
            "lint",
        )
    for run in runs:
        try:
            with open(run.path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError):
            continue
        found = suppress.find(text)
        if found:
            findings = suppress.apply(findings, run.file, run.revision, found, unused)
    return findings


def _settings(config: Any, profile: str | None) -> Any:
    """The guarded runtime's settings (``profile``, else the configured one); ``None`` when unreadable.

    A ``--profile`` that does not exist is a usage error; bad settings in the files are
    reported by the commands that run migrations, and the check then judges Alembic's SQL.
    """
    from alembic_guard.runtime.config import PROFILES, load_settings

    if profile is not None and profile.strip().lower() not in PROFILES:
        raise UsageError(
            f"--profile {profile}: no such profile", hint=f"use one of: {', '.join(sorted(PROFILES))}"
        )
    try:
        return load_settings(ini_path=config.config_file_name, profile=profile)
    except Exception:
        return None


def _as_the_runtime_runs_them(
    findings: list[Any],
    scripts: Any,
    root: str,
    settings: Any,
    heads: list[str],
    report_from: int,
    server_version: int | None,
) -> list[Any]:
    """Lint findings judged on the SQL the guarded runtime sends under ``settings`` (:mod:`.runtime`).

    Renders every revision a second time through the guarded operations (offline, no database).
    A revision that renders only one way keeps the findings of Alembic's SQL.
    """
    from alembic_guard.check import runtime, static

    guarded_runs = static.render_all(scripts, root, settings)
    broken = {r.revision for r in guarded_runs if r.rendered.sql is None or r.parse_error is not None}
    guarded = static.check_static(
        guarded_runs,
        heads,
        report_from=report_from,
        lock_timeout_set=settings.lock_timeout is not None,
        guarded=True,
        server_version=server_version,
    )
    plain_lint = [f for f in findings if f.source == "lint" and f.revision not in broken]
    guarded_lint = [f for f in guarded.findings if f.source == "lint" and f.revision not in broken]
    kept = [f for f in findings if not (f.source == "lint" and f.revision not in broken)]
    return kept + runtime.reconcile(
        plain_lint, guarded_lint, runtime.runtime_sql(guarded_runs), settings.profile
    )
