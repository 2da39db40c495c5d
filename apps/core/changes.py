"""
Which jobs changed, heard from PostgreSQL by each web process, so that a
status poll for a job nobody touched is answered without asking the
database anything (status.box_unchanged).

- A trigger on every job table says so (NOTIFY job_changed, "table:id")
  whenever a row changes what its status box shows (the columns of
  selectors.box_columns), and when a row is deleted. A trigger, not a
  signal in Python, so that no write is missed: an UPDATE from a service,
  from the sweeper or from a shell all fire it, and only once it commits.
  install_triggers writes them after every migrate.
- A thread in each gunicorn worker (gunicorn.conf.py starts it) LISTENs and
  notes when it heard of each job, and pings the database every few
  seconds, so that a connection that died quietly stops being trusted.

SQLite has neither, and there every poll reads the job's row instead.
"""

import logging
import os
import threading
import time
from collections import deque

from django.db import DEFAULT_DB_ALIAS, connection, connections

from apps.core import selectors

logger = logging.getLogger(__name__)

CHANNEL = "job_changed"
# How far apart two web hosts' clocks may be, with room to spare: a job
# loaded by one host is compared with what another heard and when.
CLOCK_MARGIN = 2.0
# How often the listener pings, and for how long after a ping its silence
# still means "nothing changed". Past it a poll reads the row again.
PING_SECONDS = 2.0
TRUSTED_SECONDS = 5.0
# How long it remembers hearing of a job: longer than a box's version
# lasts (status.REDRAW_SECONDS), after which the box is drawn again anyway.
REMEMBER_SECONDS = 120.0


class Feed:
    """What one process has heard of job changes since it began listening."""

    def __init__(self):
        self._heard: dict[tuple[str, int], float] = {}  # (table, id): when
        self._order: deque[tuple[float, tuple[str, int]]] = deque()
        # When LISTEN took effect (None while not listening) and when the
        # last ping was sent that came back: every change committed between
        # the two has been heard.
        self.listening_since: float | None = None
        self.confirmed_at = 0.0
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Listen from a thread of this process (once a process; after a
        fork, in the child). Does nothing on a database without NOTIFY."""
        if connection.vendor != "postgresql" or self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._listen, name="job-changes", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the connection (within PING_SECONDS)."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()
            self._thread = self._pid = None

    def unchanged_since(self, table: str, pk: int, since: float) -> bool:
        """Whether the row `pk` of job table `table` is known not to have
        changed what its box shows since `since` (a time.time() taken on
        any host): listened to from before then, without a gap, up to a
        few seconds ago, and not heard of since."""
        now = time.time()
        listening = self.listening_since
        since -= CLOCK_MARGIN
        return (
            listening is not None
            and listening <= since
            and since >= now - REMEMBER_SECONDS
            and self.confirmed_at >= now - TRUSTED_SECONDS
            and self._heard.get((table, pk), 0.0) < since
        )

    def heard(self, payload: str) -> None:
        """Note a notification's "table:id"."""
        table, _, pk = payload.rpartition(":")
        now = time.time()
        key = (table, int(pk))
        self._heard[key] = now
        self._order.append((now, key))
        while self._order and self._order[0][0] < now - REMEMBER_SECONDS:
            at, old = self._order.popleft()
            if self._heard.get(old) == at:
                del self._heard[old]

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                self._listen_once()
            except Exception:
                logger.warning("Lost the job change feed; reconnecting", exc_info=True)
            self._stopping.wait(1)

    def _listen_once(self) -> None:
        # A connection of its own, in autocommit (Django's default), kept
        # out of Django's per-thread handler, and named for pg_stat_activity.
        default = connections[DEFAULT_DB_ALIAS]
        named = {
            **default.settings_dict,
            "OPTIONS": {
                **default.settings_dict["OPTIONS"],
                "application_name": CHANNEL,
            },
        }
        database = type(default)(named, DEFAULT_DB_ALIAS)
        try:
            database.ensure_connection()
            psycopg = database.connection
            psycopg.execute(f"LISTEN {CHANNEL}")
            self.listening_since = self.confirmed_at = time.time()
            while not self._stopping.is_set():
                for notification in psycopg.notifies(timeout=PING_SECONDS):
                    self.heard(notification.payload)
                # Whatever was committed before this ping has been heard
                # (a notification comes before the answer that follows it).
                sent = time.time()
                psycopg.execute("SELECT 1")
                self.confirmed_at = sent
        finally:
            self.listening_since = None
            database.close()


# The one feed of this process.
feed = Feed()


def install_triggers(using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Write the triggers on every job table, as their columns are now
    (connected to post_migrate, so a new job type or column is covered by
    the migrate that brings it). PostgreSQL only."""
    database = connections[using]
    if database.vendor != "postgresql":
        return
    quote = database.ops.quote_name
    with database.cursor() as cursor:
        cursor.execute(
            f"""
            CREATE OR REPLACE FUNCTION job_changed() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME || ':' || OLD.id);
                RETURN NULL;
            END $$
            """
        )
        tables = set(database.introspection.table_names(cursor))
        for model in selectors.job_models():
            if model._meta.db_table not in tables:
                continue  # Its app was migrated back to before it.
            # The function above names the row by its id.
            assert model._meta.pk.column == "id", model
            table = quote(model._meta.db_table)
            columns = [quote(field.column) for field in selectors.box_columns(model)]
            old = ", ".join(f"OLD.{column}" for column in columns)
            new = ", ".join(f"NEW.{column}" for column in columns)
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER box_changed AFTER UPDATE ON {table}"
                f" FOR EACH ROW WHEN (({old}) IS DISTINCT FROM ({new}))"
                " EXECUTE FUNCTION job_changed()"
            )
            cursor.execute(
                f"CREATE OR REPLACE TRIGGER job_deleted AFTER DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION job_changed()"
            )
