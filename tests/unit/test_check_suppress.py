"""Python-comment suppressions in revision files (``# alembic-guard: ignore[...]``), as data."""

from __future__ import annotations

from alembic_guard.check import suppress
from alembic_guard.output.report import Finding, Location

REVISION = """\
def upgrade():
    op.create_table("t", sa.Column("id", sa.Integer))
    # alembic-guard: ignore[AG207]
    # (the table is empty)

    op.create_unique_constraint(
        "uq_t_id",
        "t",  # alembic-guard: ignore[require-concurrent-index]
        ["id"],
    )
    op.create_index("ix", "t", ["id"])  # alembic-guard: ignore[AG201, AG999]
    x = 1  # alembic-guard: ignore[AG402]
    op.drop_index("ix")
"""

UNUSED = Finding("AG001", "unused-suppression", "warning", "hides nothing", "delete it", "lint")


def _f(code: str, rule_id: str, line: int) -> Finding:
    return Finding(code, rule_id, "error", "m", "h", "lint", "r1", Location("v/r1.py", line, 1))


def test_each_comment_governs_the_op_it_ends_or_the_one_below_it():
    found = {s.line: (s.first, s.last, s.names) for s in suppress.find(REVISION)}
    assert found == {
        3: (6, 10, ("AG207",)),  # own line: the statement below, across comments and blank lines
        8: (6, 10, ("require-concurrent-index",)),  # on any line of a call spread over several
        11: (11, 11, ("AG201", "AG999")),
        12: (12, 12, ("AG402",)),
    }


def test_matching_findings_are_dropped_and_unused_names_reported():
    findings = [
        _f("AG207", "require-index-for-unique-constraint", 6),
        _f("AG201", "require-concurrent-index", 6),
        _f("AG201", "require-concurrent-index", 11),
        _f("AG202", "ban-drop-index", 13),  # no suppression
        Finding("AG207", "x", "error", "m", "h", "lint", "r2", Location("v/r1.py", 6, 1)),  # other revision
    ]
    out = suppress.apply(findings, "v/r1.py", "r1", suppress.find(REVISION), UNUSED)
    kept = [(f.code, f.revision, f.location.line if f.location else 0) for f in out]
    assert kept == [
        ("AG202", "r1", 13),
        ("AG207", "r2", 6),
        ("AG001", "r1", 11),  # AG999 silenced nothing
        ("AG001", "r1", 12),  # AG402 neither
    ]
    assert "ignore[AG999]" in out[2].message


def test_a_file_that_does_not_parse_has_no_suppressions():
    assert suppress.find("def upgrade(:\n    pass  # alembic-guard: ignore[AG201]\n") == []
