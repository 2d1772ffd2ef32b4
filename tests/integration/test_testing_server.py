from __future__ import annotations

import sqlalchemy as sa


def test_fresh_database_is_empty_and_usable(pg_url: str) -> None:
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            assert (
                conn.execute(sa.text("select count(*) from pg_tables where schemaname='public'")).scalar()
                == 0
            )
            conn.execute(sa.text("create table t (id int)"))
            assert conn.execute(sa.text("select count(*) from t")).scalar() == 0
    finally:
        engine.dispose()
