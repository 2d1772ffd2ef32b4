"""The one definition of a secret in a URL / DSN / error text (alembic_guard.redact), as data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from alembic_guard.redact import error_line, is_secret_key, mask_url, scrub, secrets_of

URLS = [
    # (url, masked)
    ("postgresql://u:Zq9-Secret@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://u:p%40ss%2Fw@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
    (
        "postgresql+psycopg2://u@h:5432/db?password=Zq9-Secret",
        "postgresql+psycopg2://u@h:5432/db?password=***",
    ),
    (
        "postgresql://u@h/db?sslmode=require&sslpassword=Zq9&x=1",
        "postgresql://u@h/db?sslmode=require&sslpassword=***&x=1",
    ),
    ("postgresql://u@h/db?pass%77ord=Zq9", "postgresql://u@h/db?pass%77ord=***"),
    ("postgresql://u@h/db?PASSWORD=a%26b&x=1", "postgresql://u@h/db?PASSWORD=***&x=1"),
    ("postgresql://u@h/db?password=a&b&x=1", "postgresql://u@h/db?password=***&x=1"),
    (
        "postgresql://u@h/db?options=-c%20password%3DZq9%20-c%20statement_timeout%3D5",
        "postgresql://u@h/db?options=-c%20password=***%20-c%20statement_timeout=5",
    ),
    (
        "postgresql://u@h/db?options=-c+statement_timeout%3D5",
        "postgresql://u@h/db?options=-c+statement_timeout%3D5",
    ),
    ("postgresql://u:pa ss@h/db", "postgresql://u:***@h/db"),
    ("postgresql://h/db?application_name=a", "postgresql://h/db?application_name=a"),
    ("host=h password='Zq 9' dbname=d", "host=h password='***' dbname=d"),
]


@pytest.mark.parametrize(("url", "masked"), URLS)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.mark.parametrize("url", [u for u, _ in URLS if " " not in u and "://" in u])
def test_mask_url_object_hides_every_secret(url: str) -> None:
    rendered = mask_url(make_url(url))
    for secret in secrets_of(url):
        assert secret not in rendered


TEXTS = [
    (
        "cannot connect to postgresql://u:Zq9@h/db?sslpassword=Zq8: refused",
        # a value runs to the white space: the ":" might be the secret's, so it goes too
        "cannot connect to postgresql://u:***@h/db?sslpassword=*** refused",
    ),
    ("invalid dsn: host=h password = 'a \\' b' port=1", "invalid dsn: host=h password = '***' port=1"),
    ("PGPASSWORD=Zq9 psql", "PGPASSWORD=*** psql"),
    ("options '-c password=Zq9'", "options '-c password=***"),
    # idempotent: a message built with mask_url keeps its punctuation when scrubbed again
    ("to postgresql://u:***@h/db?password=***: refused", "to postgresql://u:***@h/db?password=***: refused"),
    ("password=***, host=h", "password=***, host=h"),
    ("{'host': 'h', 'password': 'Zq9'}", "{'host': 'h', 'password': '***'}"),
    ('{"database": "postgresql://u@h/db?password=Zq9"}', '{"database": "postgresql://u@h/db?password=***"}'),
    ('password authentication failed for user "u"', 'password authentication failed for user "u"'),
]


@pytest.mark.parametrize(("text", "scrubbed"), TEXTS)
def test_scrub(text: str, scrubbed: str) -> None:
    assert scrub(text) == scrubbed


def test_scrub_known_url_catches_the_literal_secret() -> None:
    url = "postgresql://u:p%40ssw0rd@h/db?sslpassword=Zq9-Key"
    text = "driver said: bad value p@ssw0rd near Zq9-Key"
    assert scrub(text, known=url) == "driver said: bad value *** near ***"
    assert scrub(f"Could not parse SQLAlchemy URL from string '{url}'", known=url).count("***") == 2


def test_error_line_prefers_the_driver_error_and_scrubs() -> None:
    class Wrapped(Exception):
        orig = ValueError("invalid dsn: password=Zq9 host=h\nsecond line")

    assert error_line(Wrapped("outer")) == "invalid dsn: password=*** host=h"


@pytest.mark.parametrize(
    "key", ["password", "sslpassword", "PASSWORD", "pass%77ord", "-cpassword", "passwd", "pwd"]
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["sslmode", "host", "options", "application_name", "user"])
def test_not_secret_keys(key: str) -> None:
    assert not is_secret_key(key)


DOCS = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_examples_in_docs_security_are_true() -> None:
    rows = re.findall(r"^\| `(.+)` \| `(.+)` \|$", DOCS.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(rows) >= 7
    for given, shown in rows:
        assert (mask_url(given) if "://" in given or given.startswith("host=") else scrub(given)) == shown


def test_the_generated_revision_in_docs_security_is_true() -> None:
    from alembic_guard.importer.module import build_revisions, module_text
    from alembic_guard.plan import plan
    from alembic_guard.sql.effects import analyze_all
    from alembic_guard.sql.parse import parse_source
    from alembic_guard.sql.statement import SourceFile

    name = "001_x\nimport os; os.system('touch MARKER')\n#.sql"
    text = "CREATE TABLE t (id integer);\nCOMMENT ON TABLE t IS 'ends with a backslash \\';\n"
    (spec,) = build_revisions(plan(analyze_all(parse_source(SourceFile(path=name, text=text)))).steps)
    module = module_text(spec)
    block = DOCS.read_text(encoding="utf-8").split("```python\n", 1)[1].split("```", 1)[0]
    for line in block.splitlines():
        if line.strip() not in ("", "..."):
            assert line in module.splitlines(), line
