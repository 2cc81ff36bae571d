"""A throwaway schema in the test PostgreSQL database, for tests that need a real server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def fresh_schema(base_url: str, prefix: str = "test") -> Iterator[str]:
    """Create an empty schema, yield a URL whose connections use it, drop it (with its tables) afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from pellucid.monitor.store import normalize_url

    schema = f"{prefix}_{uuid.uuid4().hex[:16]}"
    admin = create_engine(normalize_url(base_url))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(normalize_url(base_url)).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
