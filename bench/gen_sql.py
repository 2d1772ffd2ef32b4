"""Generate a realistic, deterministic set of raw SQL migrations for benchmarks.

``python bench/gen_sql.py OUT_DIR [--files 500] [--megabytes 10] [--seed 42]``

The set looks like a long-lived application's history: tables with serial
keys, foreign keys, defaults and CHECKs; indexes (unique, partial,
expression, ``CONCURRENTLY``); ``ALTER TABLE`` adding columns and
constraints and setting ``NOT NULL``; enum types; views; PL/pgSQL functions
and triggers with ``$$`` bodies; ``DO`` blocks; ``INSERT`` / ``UPDATE``;
``COMMENT ON`` (some with non-ASCII text); ``GRANT``.  Every reference points
at something an earlier statement created, so a correct planner keeps the
order and reports no problem.  Files are named ``1_<topic>.sql`` ...
``500_<topic>.sql`` (no zero padding: a text sort would be wrong).

The same seed always gives byte-identical files.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass, field
from pathlib import Path

TOPICS = (
    "accounts", "billing", "orders", "catalog", "inventory", "shipping", "reviews", "audit",
    "search", "notifications", "reports", "teams", "projects", "tasks", "comments", "tags",
)  # fmt: skip
WORDS = (
    "name", "title", "status", "amount", "price", "total", "note", "label", "code", "email",
    "phone", "city", "country", "score", "rank", "weight", "kind", "source", "level", "color",
)  # fmt: skip
NON_ASCII = ("état", "Größe", "naïve café", "日本語", "Ünïcödé", "señal", "Ελληνικά", "emoji 😀")
SCALAR_TYPES = (
    ("text", "''"),
    ("integer", "0"),
    ("bigint", "0"),
    ("numeric(12,2)", "0.00"),
    ("boolean", "false"),
    ("timestamptz", "now()"),
    ("varchar(200)", "''"),
    ("jsonb", "'{}'::jsonb"),
)


@dataclass
class _Table:
    name: str
    columns: dict[str, str] = field(default_factory=dict)  # column -> type
    nullable: set[str] = field(default_factory=set)
    fks: set[str] = field(default_factory=set)  # left NULL by INSERT / UPDATE: no referenced rows known


@dataclass
class _World:
    """What exists so far, so that every statement refers to real objects."""

    rng: random.Random
    tables: list[_Table] = field(default_factory=list)
    enums: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    counter: int = 0

    def fresh(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}_{self.counter}"

    def table(self) -> _Table:
        # favour recent tables, as real migrations do
        tables = self.tables
        if len(tables) > 20 and self.rng.random() < 0.7:
            return self.rng.choice(tables[-20:])
        return self.rng.choice(tables)


class _many(str):
    """Several statements written as one chunk; ``statements`` says how many."""

    statements: int

    def __new__(cls, *statements: str) -> _many:
        self = super().__new__(cls, "\n".join(statements))
        self.statements = len(statements)
        return self


def _create_enum(w: _World) -> str:
    name = w.fresh("mood")
    labels = tuple(w.rng.sample(("new", "open", "active", "paused", "closed", "archived", "deleted"), 4))
    w.enums.append((name, labels))
    return f"CREATE TYPE {name} AS ENUM ({', '.join(repr(x) for x in labels)});"


def _create_table(w: _World, topic: str) -> str:
    rng = w.rng
    table = _Table(w.fresh(topic))
    lines = ["    id bigserial PRIMARY KEY"]
    table.columns["id"] = "bigint"
    for _ in range(rng.randint(3, 9)):
        col = w.fresh(rng.choice(WORDS))
        r = rng.random()
        if r < 0.15 and w.enums:
            enum, labels = rng.choice(w.enums)
            lines.append(f"    {col} {enum} NOT NULL DEFAULT '{labels[0]}'")
            table.columns[col] = enum
            continue
        if r < 0.35 and w.tables:
            parent = w.table()
            action = rng.choice(("", " ON DELETE CASCADE", " ON DELETE SET NULL"))
            lines.append(f"    {col} bigint REFERENCES {parent.name} (id){action}")
            table.columns[col] = "bigint"
            table.nullable.add(col)
            table.fks.add(col)
            continue
        typ, default = rng.choice(SCALAR_TYPES)
        parts = [f"    {col} {typ}"]
        if rng.random() < 0.5:
            parts.append("NOT NULL")
        else:
            table.nullable.add(col)
        if rng.random() < 0.4:
            parts.append(f"DEFAULT {default}")
        if typ in ("integer", "bigint", "numeric(12,2)") and rng.random() < 0.3:
            parts.append(f"CHECK ({col} >= 0)")
        lines.append(" ".join(parts))
        table.columns[col] = typ
    lines.append("    created_at timestamptz NOT NULL DEFAULT now()")
    table.columns["created_at"] = "timestamptz"
    if rng.random() < 0.3:
        # unique by construction, so that the generated data can be loaded too
        col = next(c for c in table.columns if c != "id")
        lines.append(f"    CONSTRAINT {table.name}_uniq UNIQUE (id, {col})")
    ine = "IF NOT EXISTS " if rng.random() < 0.3 else ""
    w.tables.append(table)
    body = ",\n".join(lines)
    return f"CREATE TABLE {ine}{table.name} (\n{body}\n);"


def _create_index(w: _World) -> str:
    rng = w.rng
    t = w.table()
    cols = [c for c in t.columns if c != "id"]
    col = rng.choice(cols)
    name = w.fresh(f"ix_{t.name}")
    r = rng.random()
    if r < 0.2:
        return f"CREATE INDEX CONCURRENTLY {name} ON {t.name} ({col});"
    if r < 0.4 and t.columns[col] in ("text", "varchar(200)"):
        return f"CREATE INDEX {name} ON {t.name} (lower({col}));"
    if r < 0.6 and t.nullable & set(cols):
        pcol = rng.choice(sorted(t.nullable & set(cols)))
        return f"CREATE INDEX {name} ON {t.name} ({col}) WHERE {pcol} IS NOT NULL;"
    if r < 0.7:
        return f"CREATE UNIQUE INDEX {name} ON {t.name} (id, {col});"
    return f"CREATE INDEX IF NOT EXISTS {name} ON {t.name} USING btree ({col}, created_at DESC);"


def _alter_table(w: _World) -> str:
    rng = w.rng
    t = w.table()
    r = rng.random()
    if r < 0.35:
        col = w.fresh(rng.choice(WORDS))
        typ, default = rng.choice(SCALAR_TYPES)
        t.columns[col] = typ
        t.nullable.add(col)
        return f"ALTER TABLE {t.name} ADD COLUMN {col} {typ} DEFAULT {default};"
    if r < 0.55 and t.nullable - t.fks:
        col = sorted(t.nullable - t.fks)[0]
        t.nullable.discard(col)
        return f"ALTER TABLE {t.name} ALTER COLUMN {col} SET NOT NULL;"
    if r < 0.75 and len(w.tables) > 1:
        parent = w.table()
        col = w.fresh(f"{parent.name}_id")
        t.columns[col] = "bigint"
        t.nullable.add(col)
        t.fks.add(col)
        return _many(
            f"ALTER TABLE {t.name} ADD COLUMN {col} bigint;",
            f"ALTER TABLE {t.name} ADD CONSTRAINT {w.fresh('fk')} FOREIGN KEY ({col}) "
            f"REFERENCES {parent.name} (id) NOT VALID;",
        )
    numeric = [c for c, typ in t.columns.items() if typ in ("integer", "bigint", "numeric(12,2)")]
    numeric = [c for c in numeric if c != "id"]
    if numeric:
        col = rng.choice(numeric)
        return f"ALTER TABLE {t.name} ADD CONSTRAINT {w.fresh('ck')} CHECK ({col} < 1000000000);"
    return f"ALTER TABLE {t.name} ALTER COLUMN created_at SET DEFAULT now();"


def _create_view(w: _World) -> str:
    a = w.table()
    cols = [c for c in a.columns if c != "id"][:3]
    select = ", ".join(f"a.{c}" for c in cols)
    fks = [c for c, typ in a.columns.items() if typ == "bigint" and c.endswith("_id")]
    name = w.fresh(f"v_{a.name}")
    if fks and w.rng.random() < 0.5:
        return (
            f"CREATE OR REPLACE VIEW {name} AS\n    SELECT a.id, {select}, count(*) AS n\n"
            f"    FROM {a.name} a\n    WHERE a.created_at > now() - interval '30 days'\n"
            f"    GROUP BY a.id, {select};"
        )
    return f"CREATE VIEW {name} AS\n    SELECT a.id, {select}\n    FROM {a.name} a;"


def _create_function(w: _World) -> str:
    t = w.table()
    name = w.fresh(f"touch_{t.name}")
    w.functions.append(name)
    text = w.rng.choice(NON_ASCII)
    out = (
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        f"    -- {text}: keep created_at; stamp rows on insert\n"
        "    IF NEW.created_at IS NULL THEN\n"
        "        NEW.created_at := now();\n"
        "    END IF;\n"
        "    RETURN NEW;\n"
        "END;\n"
        "$$;"
    )
    if w.rng.random() < 0.6:
        trig = w.fresh("trg")
        trigger = f"CREATE TRIGGER {trig} BEFORE INSERT ON {t.name}\n"
        return _many(out, trigger + f"    FOR EACH ROW EXECUTE FUNCTION {name}();")
    return out


def _do_block(w: _World) -> str:
    t = w.table()
    col = w.fresh("extra")
    t.columns[col] = "text"
    return (
        "DO $$\n"
        "BEGIN\n"
        "    IF NOT EXISTS (\n"
        "        SELECT 1 FROM information_schema.columns\n"
        f"        WHERE table_name = '{t.name}' AND column_name = '{col}'\n"
        "    ) THEN\n"
        f"        ALTER TABLE {t.name} ADD COLUMN {col} text NOT NULL DEFAULT '';\n"
        "    END IF;\n"
        "END\n"
        "$$;"
    )


def _literal(typ: str, rng: random.Random, enums: dict[str, tuple[str, ...]]) -> str:
    if typ in enums:
        return f"'{rng.choice(enums[typ])}'"
    if typ in ("text", "varchar(200)"):
        return "'" + rng.choice(NON_ASCII + WORDS).replace("'", "''") + f" {rng.randint(1, 999)}'"
    if typ in ("integer", "bigint"):
        return str(rng.randint(0, 100000))
    if typ == "numeric(12,2)":
        return f"{rng.randint(0, 99999)}.{rng.randint(0, 99):02d}"
    if typ == "boolean":
        return rng.choice(("true", "false"))
    if typ == "jsonb":
        return "'{\"k\": 1}'"
    return "now()"


def _insert(w: _World) -> str:
    rng = w.rng
    t = w.table()
    enums = dict(w.enums)
    # foreign-key columns stay NULL: the referenced rows are not known
    cols = [c for c in t.columns if c != "id" and c not in t.fks]
    rows = []
    for _ in range(rng.randint(2, 6)):
        rows.append("(" + ", ".join(_literal(t.columns[c], rng, enums) for c in cols) + ")")
    return f"INSERT INTO {t.name} ({', '.join(cols)}) VALUES\n    " + ",\n    ".join(rows) + ";"


def _update(w: _World) -> str:
    rng = w.rng
    t = w.table()
    col = rng.choice([c for c in t.columns if c != "id" and c not in t.fks])
    value = _literal(t.columns[col], rng, dict(w.enums))
    return f"UPDATE {t.name} SET {col} = {value} WHERE id < {rng.randint(10, 10000)};"


def _comment(w: _World) -> str:
    t = w.table()
    text = w.rng.choice(NON_ASCII).replace("'", "''")
    if w.rng.random() < 0.5:
        col = w.rng.choice(list(t.columns))
        return f"COMMENT ON COLUMN {t.name}.{col} IS 'Column {col}: {text}';"
    return f"COMMENT ON TABLE {t.name} IS 'Table {t.name} ({text})';"


def _grant(w: _World) -> str:
    t = w.table()
    return f"GRANT {w.rng.choice(('SELECT', 'SELECT, INSERT', 'ALL'))} ON {t.name} TO PUBLIC;"


_MIX = (
    (_create_index, 14),
    (_alter_table, 12),
    (_insert, 18),
    (_update, 6),
    (_comment, 8),
    (_grant, 4),
    (_create_view, 5),
    (_create_function, 4),
    (_do_block, 4),
    (_create_enum, 1),
)


def generate(out: Path, files: int = 500, megabytes: float = 10.0, seed: int = 42) -> tuple[int, int]:
    """Write ``files`` migrations of about ``megabytes`` MB in total into ``out``.

    Returns (bytes written, statements written).  Writes files only.
    """
    rng = random.Random(seed)
    w = _World(rng)
    out.mkdir(parents=True, exist_ok=True)
    per_file = int(megabytes * 1_000_000 / files)
    makers = [m for m, _ in _MIX]
    weights = [n for _, n in _MIX]
    total_bytes = total_statements = 0
    for i in range(1, files + 1):
        topic = TOPICS[i % len(TOPICS)]
        chunks = [f"-- Migration {i}: {topic} ({rng.choice(NON_ASCII)})\n"]
        statements = 0
        if i == 1 or rng.random() < 0.5:
            chunks.append(_create_enum(w) + "\n\n")
            statements += 1
        # every file creates tables, then works on what exists
        for _ in range(rng.randint(1, 4)):
            chunks.append(_create_table(w, topic) + "\n\n")
            statements += 1
        size = sum(len(c.encode()) for c in chunks)
        while size < per_file:
            maker = rng.choices(makers, weights)[0]
            if rng.random() < 0.05:
                made = _create_table(w, topic) + "\n\n"
                chunks.append(made)
                size += len(made.encode())
                statements += 1
            made = maker(w)
            statements += made.statements if isinstance(made, _many) else 1
            sql = made + "\n\n"
            if rng.random() < 0.1:
                sql = f"-- {rng.choice(NON_ASCII)}: {maker.__name__.strip('_')}\n" + sql
            chunks.append(sql)
            size += len(sql.encode())
        data = "".join(chunks).encode()
        (out / f"{i}_{topic}.sql").write_bytes(data)
        total_bytes += len(data)
        total_statements += statements
    return total_bytes, total_statements


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--megabytes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    size, count = generate(args.out, args.files, args.megabytes, args.seed)
    print(f"wrote {args.files} files, {size / 1e6:.2f} MB, ~{count} statements to {args.out}")


if __name__ == "__main__":
    main()
