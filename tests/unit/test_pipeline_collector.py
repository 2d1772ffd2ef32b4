"""The analysis pipeline's speed measures must not change what it computes or leak state.

- every public entry point (``parse_source``, ``parse_sources``,
  ``analyze_all``, ``plan``, ``plan_directory``) does its work with the cyclic
  garbage collector paused, and leaves it as it found it, errors included;
- the optional ``orjson`` decoder gives exactly the trees the standard
  library gives (compared on every SQL fixture of the test suite, whichever
  decoder is installed).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import alembic_guard.plan as plan_module
import alembic_guard.sql.effects as effects_module
import alembic_guard.sql.parse as parse_module
from alembic_guard.errors import SourceError
from alembic_guard.plan import plan, plan_directory
from alembic_guard.sql.effects import analyze_all
from alembic_guard.sql.parse import parse_source, parse_sources, parse_text
from alembic_guard.sql.statement import SourceFile

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SQL_FILES = sorted(FIXTURES.rglob("*.sql"))


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    if not was:
        gc.disable()


def _spy(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[bool]:
    """Replace ``module.name`` with a wrapper recording whether the collector ran during each call."""
    seen: list[bool] = []
    real: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return seen


SQL = (
    "CREATE TABLE t (id int PRIMARY KEY, a text);\nCREATE INDEX t_a ON t (a);\nINSERT INTO t VALUES (1, 'x');"
)


@pytest.mark.usefixtures("collector_on")
def test_parse_source_pauses_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _spy(monkeypatch, parse_module, "Statement")
    assert len(parse_text(SQL)) == 3
    assert seen == [False, False, False]
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_a_syntax_error_still_restores_the_collector() -> None:
    with pytest.raises(SourceError):
        parse_sources([SourceFile("ok.sql", SQL), SourceFile("bad.sql", "CREATE TABLE (;")])
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_analyze_all_and_plan_pause_and_restore(monkeypatch: pytest.MonkeyPatch) -> None:
    statements = parse_source(SourceFile("0001.sql", SQL))
    analysed = _spy(monkeypatch, effects_module, "analyze")
    built = _spy(monkeypatch, plan_module, "build")
    result = plan(analyze_all(statements))
    assert [s.statement.index for s in result.steps] == [0, 1, 2]
    assert analysed == [False, False, False]
    assert built == [False]
    assert gc.isenabled()


@pytest.mark.usefixtures("collector_on")
def test_plan_directory_pauses_and_restores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "0001_t.sql").write_text(SQL, encoding="utf-8")
    (tmp_path / "0002_u.sql").write_text("ALTER TABLE t ADD COLUMN b int;", encoding="utf-8")
    built = _spy(monkeypatch, plan_module, "build")
    result = plan_directory(tmp_path)
    assert [(s.statement.file, s.statement.index) for s in result.steps] == [
        ("0001_t.sql", 0),
        ("0001_t.sql", 1),
        ("0001_t.sql", 2),
        ("0002_u.sql", 0),
    ]
    assert built == [False]
    assert gc.isenabled()


def test_a_collector_the_caller_paused_stays_paused() -> None:
    gc.disable()
    try:
        parse_text(SQL)
        plan(analyze_all(parse_text(SQL)))
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_decoder_gives_the_standard_librarys_trees(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever ``parse`` decodes with (orjson when installed) must equal ``json.loads``, field for field."""
    src = SourceFile(str(path), path.read_bytes().decode("utf-8"))
    try:
        fast = parse_source(src)
    except SourceError as exc:
        monkeypatch.setattr(parse_module, "_json_loads", json.loads)
        with pytest.raises(SourceError) as again:
            parse_source(SourceFile(src.path, src.text))
        assert str(again.value) == str(exc)
        return
    monkeypatch.setattr(parse_module, "_json_loads", json.loads)
    slow = parse_source(SourceFile(src.path, src.text))
    assert [(s.offset, s.line, s.col, s.text, s.byte_offset, s.node) for s in fast] == [
        (s.offset, s.line, s.col, s.text, s.byte_offset, s.node) for s in slow
    ]
