"""Alembic migrations of the monitoring store, applied by ``Store.open`` / ``Store.upgrade()``.

Revisions live in ``versions/`` and are numbered ``0001``, ``0002``... Write a new one after
changing ``pellucid/monitor/db.py``, from the repository root::

    python - <<'PY'
    from alembic import command
    from alembic.config import Config
    cfg = Config()
    cfg.set_main_option("script_location", "src/pellucid/monitor/migrations")
    cfg.set_main_option("sqlalchemy.url", "sqlite:////tmp/pellucid-dev.db")
    command.upgrade(cfg, "head")
    command.revision(cfg, "what changed", autogenerate=True, rev_id="0002")
    PY

Then read and edit the generated file (spell its types out rather than importing them from
``db.py``, as ``0001_initial`` does), and let the test that compares models with migrations
confirm they agree on SQLite and PostgreSQL.
"""
