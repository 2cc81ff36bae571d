"""Opening the monitoring database: engine set-up, connection check, migrations.

``Store.open(url)`` returns a ready store or raises :class:`StoreConnectionError` at once, with
the URL (password hidden) and the driver's reason, so a server fails at start rather than on
its first request::

    store = Store.open("sqlite:////var/lib/pellucid/pellucid.db")       # or settings=...
    store = Store.open("postgresql+psycopg://user:secret@db:5432/pellucid")
    store.repo.count()

SQLite (the default, a file in the Pellucid home) is set up for one machine with many threads:

- WAL journal: readers never block the writer and the writer never blocks readers.
- ``busy_timeout``: a connection waiting for the write lock retries for a while instead of
  failing with "database is locked".
- ``foreign_keys=ON``: SQLite ignores foreign keys (and so ``ON DELETE CASCADE``) without it.
- ``synchronous=NORMAL``: in WAL mode a process crash loses nothing committed; a power cut may
  lose the last transactions, never corrupt the file.
- Transactions are begun explicitly, and write transactions with ``BEGIN IMMEDIATE``: they take
  the write lock first and wait for it (``busy_timeout``) rather than fail half-way when a
  read lock cannot be upgraded.

PostgreSQL (``postgresql+psycopg://``; ``postgres://`` and ``postgresql://`` are read the same
way) serves many gateway replicas: connections are checked before use, and migrations run under
an advisory lock, so replicas starting together upgrade the schema once.

Migrations are the Alembic revisions shipped in ``migrations/versions``; ``open`` applies any
that are missing (``upgrade=False`` skips that, for read-only tools).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from pellucid.monitor.errors import StoreConnectionError, StoreError
from pellucid.monitor.repository import Repository
from pellucid.monitor.repository_alerts import AlertRepository
from pellucid.monitor.repository_analytics import AnalyticsRepository
from pellucid.monitor.repository_evals import EvalRunRepository
from pellucid.monitor.repository_reports import ReportRepository
from pellucid.monitor.repository_traces import TraceRepository
from pellucid.monitor.sql import dump_json
from pellucid.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
#: Arbitrary constant naming Pellucid's migration lock among PostgreSQL advisory locks.
_PG_MIGRATION_LOCK = 0x7E11_0C1D


def redact_url(url: str | URL) -> str:
    """``url`` with its password replaced by ``***`` (also for strings that do not parse)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError, TypeError):
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(url))


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``: psycopg 3 for plain ``postgres(ql)://`` URLs, ``~`` expanded in SQLite paths."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database.startswith("~"):
        parsed = parsed.set(database=str(Path(parsed.database).expanduser()))
    return parsed


def _reason(exc: BaseException, password: str | None) -> str:
    """The useful, single-paragraph part of a driver error, never containing the password."""
    orig = getattr(exc, "orig", None) or exc
    reason = " ".join(str(orig).split()) or type(orig).__name__
    return reason.replace(password, "***") if password else reason


class Store:
    """A monitoring database: an engine, its schema version, and the repository over it.

    Build it with :meth:`open`. One repository per aggregate: ``store.repo`` (records, feedback),
    ``store.analytics`` (window aggregates over records), ``store.evals`` (evaluation runs),
    ``store.alerts`` (alert rules and events), ``store.reports`` (saved drift and audit reports) and
    ``store.traces`` (calls grouped by OpenTelemetry trace);
    ``store.close()`` releases the connections (also on ``with Store.open(...) as store:``).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.repo = Repository(engine)
        self.analytics = AnalyticsRepository(engine)
        self.evals = EvalRunRepository(engine)
        self.alerts = AlertRepository(engine)
        self.reports = ReportRepository(engine)
        self.traces = TraceRepository(engine)

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        upgrade: bool = True,
        busy_timeout_s: float = 30.0,
        pool_size: int = 5,
        echo: bool = False,
        create: bool = True,
    ) -> Store:
        """Connect to ``url`` (default: ``settings.resolved_database_url``), check it, migrate it.

        ``create=False`` (commands that only read) refuses a SQLite file that does not exist instead
        of creating an empty store there, so a mistyped path is an error, not an empty table.

        Raises:
            StoreConnectionError: the URL does not parse, names no installed driver, or the
                database does not answer; the message has the URL (password hidden) and why.
            StoreError: the schema cannot be brought up to date.
        """
        if url is None:
            url = (settings or Settings.from_env()).resolved_database_url
        shown = redact_url(url)
        parsed = _checked_url(url, shown, create)
        engine = _connect(parsed, shown, busy_timeout_s=busy_timeout_s, pool_size=pool_size, echo=echo)
        store = cls(engine)
        if upgrade:
            try:
                store.upgrade()
            except BaseException:
                engine.dispose()
                raise
        return store

    # -- schema --------------------------------------------------------------------------
    def _alembic(self, conn: Connection) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = conn
        return config

    def _migrate(self, action: str, revision: str) -> None:
        from alembic import command
        from alembic.util.exc import CommandError

        with self.engine.connect() as conn:
            conn.execution_options(sqlite_begin="IMMEDIATE")  # one migrator at a time on SQLite
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
                try:
                    getattr(command, action)(self._alembic(conn), revision)
                except CommandError as exc:
                    raise StoreError(
                        f"Cannot {action} the monitoring schema of {self.url} to {revision!r}: {exc}. "
                        "If the database was written by a newer Pellucid, upgrade Pellucid."
                    ) from None
                except SQLAlchemyError as exc:
                    raise StoreError(
                        f"Cannot {action} the monitoring schema of {self.url}: {_reason(exc, None)}. "
                        "The database user needs permission to create tables and indexes."
                    ) from None

    def upgrade(self, revision: str = "head") -> None:
        """Apply the migrations up to ``revision`` (all of them by default); a no-op when current."""
        self._migrate("upgrade", revision)

    def downgrade(self, revision: str) -> None:
        """Undo migrations down to ``revision`` (``"base"``: drop every Pellucid table). Destroys data."""
        self._migrate("downgrade", revision)

    def current_revision(self) -> str | None:
        """The schema's Alembic revision (``None`` for a database without Pellucid tables)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    @staticmethod
    def head_revision() -> str:
        """The newest revision this version of Pellucid ships."""
        from alembic.config import Config
        from alembic.script import ScriptDirectory

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        head = ScriptDirectory.from_config(config).get_current_head()
        assert head is not None  # the package always ships at least one revision
        return head

    # -- lifetime ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The database URL with the password hidden (safe to log and display)."""
        return redact_url(self.engine.url)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection. The store must not be used afterwards."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


def _checked_url(url: str | URL, shown: str, create: bool) -> URL:
    """The parsed URL of a SQLite or PostgreSQL store (``shown``: the URL with its password hidden);
    with ``create=False`` a SQLite file must already exist."""
    try:
        parsed = normalize_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreConnectionError(
            f"Cannot open the monitoring store at {shown}: not a database URL ({_reason(exc, None)}). "
            "Use sqlite:///path/to/file.db or postgresql+psycopg://user:password@host:5432/dbname."
        ) from None
    if not create:
        _require_existing(parsed, shown)
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreConnectionError(
            f"Cannot open the monitoring store at {shown}: {parsed.get_backend_name()!r} databases are not "
            "supported. Pellucid's store supports sqlite:///path/to/file.db and "
            "postgresql+psycopg://user:password@host:5432/dbname."
        )
    return parsed


def _connect(url: URL, shown: str, *, busy_timeout_s: float, pool_size: int, echo: bool) -> Engine:
    """An engine whose database answered ``SELECT 1``; a missing driver or an unreachable database
    is a :class:`StoreConnectionError` saying which (the password never shown)."""
    password = url.password if isinstance(url.password, str) else None
    try:
        engine = _create_engine(url, busy_timeout_s=busy_timeout_s, pool_size=pool_size, echo=echo)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except (NoSuchModuleError, ImportError) as exc:
        raise StoreConnectionError(
            f"Cannot open the monitoring store at {shown}: no driver for {url.drivername!r} "
            f"({_reason(exc, password)}). Pellucid supports sqlite:/// and postgresql+psycopg:// "
            "(pip install 'psycopg[binary]')."
        ) from None
    except (SQLAlchemyError, OSError) as exc:
        raise StoreConnectionError(
            f"Cannot open the monitoring store at {shown}: {_reason(exc, password)}. "
            "Check that the server runs and the URL (host, port, user, password, database) is right, "
            "or set PELLUCID_DATABASE_URL."
        ) from None
    return engine


def _require_existing(url: URL, shown: str) -> None:
    """Refuse a SQLite store file that does not exist (a server, the SDK or a writing command creates it)."""
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return
    if not Path(database).is_file():
        raise StoreConnectionError(
            f"There is no monitoring store at {shown}: nothing has been logged there. Check the path "
            "(PELLUCID_DATABASE_URL or the Pellucid home), or create the store by serving "
            "(`pellucid serve`) or logging calls (pellucid.monitor.log)."
        )


def _create_engine(url: URL, *, busy_timeout_s: float, pool_size: int, echo: bool) -> Engine:
    if url.get_backend_name() != "sqlite":
        connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": 10}
        return create_engine(
            url,
            connect_args=connect_args,
            pool_pre_ping=True,
            pool_size=pool_size,
            max_overflow=2 * pool_size,
            echo=echo,
            json_serializer=dump_json,
        )
    database = url.database or ""
    memory = database in ("", ":memory:") or database.startswith("file::memory:")
    kwargs: dict[str, Any] = {"echo": echo, "json_serializer": dump_json}
    if memory:  # one shared connection, or every thread would see its own empty database
        kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.update(pool_size=pool_size, max_overflow=2 * pool_size, connect_args={"timeout": busy_timeout_s})
    engine = create_engine(url, **kwargs)
    timeout_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy, not the sqlite3 module, begins transactions
        cursor = dbapi_conn.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
