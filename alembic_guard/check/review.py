"""PR review: the autogenerate diff between the application's ``MetaData`` and a database at head.

``compare_metadata`` answers "do the models and the migrations agree?": a
model changed without a migration, or a migration that does not match the
models.  The database compared is a scratch database upgraded to head when
the role may ``CREATE DATABASE`` (created and dropped here), else the live
one as it is.

The metadata comes from ``--metadata module:attr``, or from ``env.py``: it
is run in offline mode with no revisions to render, which is enough for it
to call ``context.configure(target_metadata=...)``; that value is kept.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any

from alembic_guard.errors import UsageError
from alembic_guard.output.report import Section
from alembic_guard.redact import error_line


def load_metadata(config: Any, spec: str | None, root: str) -> Any:
    """The target ``MetaData``: ``spec`` (``module:attr``) or what env.py configures; ``None`` if neither."""
    if spec:
        module_name, _, attr = spec.partition(":")
        if not module_name or not attr:
            raise UsageError(
                f"--metadata {spec}: expected module:attribute",
                hint="e.g. --metadata myapp.models:Base.metadata",
            )
        if root not in sys.path:
            sys.path.insert(0, root)
        try:
            obj: Any = importlib.import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as exc:
            raise UsageError(
                f"--metadata {spec}: {exc}", hint="check the module path and attribute name"
            ) from None
        except Exception as exc:  # the models module itself fails to import
            raise UsageError(
                f"--metadata {spec}: importing {module_name} failed: {type(exc).__name__}: {exc}",
                hint="run `python -c 'import " + module_name + "'` to see the error",
            ) from None
        import sqlalchemy as sa

        metadatas = obj if isinstance(obj, (list, tuple)) else [obj]
        if not metadatas or not all(isinstance(m, sa.MetaData) for m in metadatas):
            raise UsageError(
                f"--metadata {spec}: is a {type(obj).__name__}, not a SQLAlchemy MetaData",
                hint="point at the MetaData, e.g. --metadata myapp.models:Base.metadata",
            )
        return obj
    return _metadata_from_env(config)


def _metadata_from_env(config: Any) -> Any:
    from alembic.runtime.environment import EnvironmentContext
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config)
    saved = getattr(config, "output_buffer", None)
    config.output_buffer = io.StringIO()  # offline mode writes its (empty) SQL here, not to stdout
    try:
        with EnvironmentContext(
            config, script, fn=lambda rev, ctx: [], as_sql=True, destination_rev="heads"
        ) as env:
            script.run_env()
            return env.context_opts.get("target_metadata")
    except Exception:  # an env.py that cannot run offline: no metadata rather than no report
        return None
    finally:
        config.output_buffer = saved


def describe_diff(diff: Any) -> list[str]:
    """One line per ``compare_metadata`` entry (a tuple, or a list of ``modify_*`` tuples)."""
    if isinstance(diff, list):
        return [line for d in diff for line in describe_diff(d)]
    op = diff[0]
    if op.startswith("modify_"):
        _, schema, table, column, _kw, old, new = diff
        where = f"{schema}.{table}" if schema else table
        return [f"{op} {where}.{column}: {old!r} -> {new!r}"]
    target = diff[-1] if op in ("add_column", "remove_column") else diff[1]
    if op in ("add_column", "remove_column"):
        schema, table = diff[1], diff[2]
        where = f"{schema}.{table}" if schema else table
        return [f"{op} {where}.{target.name}"]
    name = getattr(target, "name", None) or str(target)
    table = getattr(getattr(target, "table", None), "name", None)
    return [f"{op} {name}" + (f" on {table}" if table and table != name else "")]


def compare(url: str, metadata: Any) -> list[str]:
    """``compare_metadata`` of ``metadata`` against the database at ``url``.  Read-only."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from alembic_guard.dburl import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            mc = MigrationContext.configure(conn, opts={"target_metadata": metadata, "compare_type": True})
            diffs = compare_metadata(mc, metadata)
    finally:
        engine.dispose()
    # the bookkeeping tables are ours, not the application's
    lines = [d for entry in diffs for d in describe_diff(entry)]
    from alembic_guard.model import BOOKKEEPING_TABLES as ours

    return sorted(line for line in lines if not any(name in line for name in ours))


@contextlib.contextmanager
def scratch_at_head(config: Any, url: str) -> Iterator[str | None]:
    """A scratch database upgraded to head (dropped afterwards), or ``None`` when it cannot be created.

    Needs CREATE DATABASE; runs ``alembic upgrade heads`` in it through the
    project's own env.py.  The database is guard-repair's scratch database
    (:func:`alembic_guard.repair.expected.scratch_database`).
    """
    from sqlalchemy.engine import make_url

    from alembic import command
    from alembic_guard.errors import ConnectionFailed
    from alembic_guard.repair.expected import scratch_database
    from alembic_guard.runtime.runner import URL_ATTR

    with contextlib.ExitStack() as stack:
        try:
            scratch_url = stack.enter_context(scratch_database(make_url(url)))
        except ConnectionFailed:  # no CREATE DATABASE privilege (or no server): compare the live database
            yield None
            return
        scratch = scratch_url.render_as_string(hide_password=False)
        with _pointed_at(config, scratch, URL_ATTR):
            command.upgrade(config, "heads")
            yield scratch


@contextlib.contextmanager
def _pointed_at(config: Any, scratch: str, url_attr: str) -> Iterator[None]:
    """``DATABASE_URL`` and the runtime's URL attribute set to ``scratch`` while the block runs."""
    saved_env = os.environ.get("DATABASE_URL")
    saved_attr = config.attributes.get(url_attr)
    try:
        os.environ["DATABASE_URL"] = scratch
        config.attributes[url_attr] = scratch
        yield
    finally:
        if saved_env is None:
            os.environ.pop("DATABASE_URL", None)
        else:
            os.environ["DATABASE_URL"] = saved_env
        if saved_attr is None:
            config.attributes.pop(url_attr, None)
        else:
            config.attributes[url_attr] = saved_attr


def autogenerate_section(config: Any, url: str, metadata: Any) -> Section:
    """The report's autogenerate section for ``metadata`` (``None``: say that none is configured)."""
    if metadata is None:
        return Section(
            "unavailable",
            "no target_metadata: env.py configures none and --metadata was not given",
        )
    try:
        with scratch_at_head(config, url) as scratch:
            where = "a scratch database upgraded to head" if scratch else "the live database"
            lines = compare(scratch or url, metadata)
    except UsageError:
        raise
    except Exception as exc:
        first = error_line(exc, known=url)
        return Section("unavailable", f"autogenerate comparison failed: {type(exc).__name__}: {first}")
    if not lines:
        return Section("ok", f"models and migrations agree ({where})")
    return Section("ok", f"{len(lines)} difference(s) between the models and {where}", tuple(lines))
