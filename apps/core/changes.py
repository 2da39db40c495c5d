"""
Which jobs changed, heard from PostgreSQL by each web process, so that a
status poll for a job nobody touched is answered without asking the
database anything (status.box_unchanged).

- Triggers on every job table NOTIFY job_changed, "table:id", when an
  UPDATE changes a column of selectors.box_columns (the columns a box's
  fingerprint is made of) and when a row is deleted. Triggers, not signals
  in Python, so that a service, the sweeper, a bulk update and a shell
  are all heard, and only once they commit. install_triggers writes them
  after a migrate, and drop_triggers takes them away before one that has
  work for an app with job models (PostgreSQL will not change the type of
  a column a trigger names); both say so as they commit.
- A thread in each gunicorn worker (gunicorn.conf.py starts it) LISTENs and
  notes when it heard of each job. Every PING_SECONDS it NOTIFYs itself
  and reads the job triggers: only once that ping comes back, with every
  trigger there, firing and watching the columns this release's boxes are
  drawn from, is the silence before it trusted. A connection that died, a
  pooler that does not pass notifications on, a migrate under way, a
  release ahead of or behind its migrate, or a trigger disabled by hand
  (noticed at the next ping) all stop it vouching, and polls read the
  job's row again.

What it costs: NOTIFY takes a lock for the whole database cluster while
its transaction commits, so job writes that change a box no longer commit
side by side (README, Status polls). JOB_CHANGE_FEED=False drops the
triggers and the feed. Not seen at all: a TRUNCATE of a job table, or
writes made with session_replication_role = replica, which fire no
trigger; a box they make stale is drawn again within status.REDRAW_SECONDS.

SQLite has neither, and there every poll reads the job's row instead.
"""

import logging
import os
import threading
import time
import uuid
from collections import deque

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from apps.core import selectors

logger = logging.getLogger(__name__)

CHANNEL = "job_changed"
# How far apart two web hosts' clocks may be, with room to spare: a job
# loaded by one host is compared with what another heard and when.
CLOCK_MARGIN = 2.0
# How often the listener pings itself, and for how long after a ping that
# came back its silence still means "nothing changed".
PING_SECONDS = 2.0
TRUSTED_SECONDS = 5.0
# How long it remembers hearing of a job: longer than a box's version
# lasts (status.REDRAW_SECONDS), after which the box is drawn again anyway;
# and how many jobs at most, past which it forgets all and starts over.
REMEMBER_SECONDS = 120.0
REMEMBER_AT_MOST = 100_000
# The listener's connection gives up on a silent server after about this
# long (TCP keepalives and libpq's tcp_user_timeout), and reconnects.
DEAD_CONNECTION_SECONDS = 30


class Feed:
    """What one process has heard of job changes since it began listening."""

    def __init__(self):
        self._heard: dict[tuple[str, int], float] = {}  # (table, id): when
        self._order: deque[tuple[float, tuple[str, int]]] = deque()
        # When LISTEN took effect (None while not listening), and when the
        # last ping that came back was sent: every change committed between
        # the two has reached this process.
        self.listening_since: float | None = None
        self.confirmed_at = 0.0
        self._pid: int | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Listen from a thread of this process (once a process; after a
        fork, in the child). Does nothing without NOTIFY (SQLite) or with
        JOB_CHANGE_FEED off."""
        if not enabled() or self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._listen, name="job-changes", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close the connection (within PING_SECONDS
        while the database answers)."""
        if self._thread is not None:
            self._stopping.set()
            self._thread.join(timeout=DEAD_CONNECTION_SECONDS)
            self._thread = self._pid = None

    def unchanged_since(self, table: str, pk: int, since: float) -> bool:
        """Whether the row `pk` of job table `table` is known not to have
        changed what its box shows since `since` (a time.time() taken on
        any host): listened to from before then, without a gap, up to a
        few seconds ago, and not heard of since."""
        now = time.time()
        since -= CLOCK_MARGIN
        # Read before listening_since, which a flood resets before it forgets.
        heard_at = self._heard.get((table, pk), 0.0)
        listening = self.listening_since
        confirmed = self.confirmed_at
        return (
            listening is not None
            and listening <= since
            and since >= now - REMEMBER_SECONDS
            and confirmed >= max(listening, now - TRUSTED_SECONDS)
            and heard_at < since
        )

    def heard(self, payload: str) -> None:
        """Note a notification's "table:id"."""
        table, _, pk = payload.rpartition(":")
        now = time.time()
        if len(self._heard) >= REMEMBER_AT_MOST:
            # A flood (a bulk change of many jobs): vouch only for boxes
            # drawn from now on, then forget it all.
            self.listening_since = now
            self._heard.clear()
            self._order.clear()
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
        database = _own_connection()
        try:
            database.ensure_connection()
            psycopg = database.connection
            psycopg.execute(f"LISTEN {CHANNEL}")
            expected = _expected_triggers(database.ops.quote_name)
            triggers_before = None
            while not self._stopping.is_set():
                ping = f"ping:{uuid.uuid4().hex}"
                sent = time.time()
                # Sent and read in one statement, committed at its end: when
                # the ping comes back, whatever was committed before it has
                # been heard, if every trigger was there to say it.
                _, triggers = psycopg.execute(PING, [CHANNEL, ping]).fetchone()
                triggers = triggers or []
                if triggers != triggers_before:
                    # Listening from now on (the first ping), or written
                    # again since the last ping (a migrate), or enabled
                    # again: what was committed meanwhile may not have been
                    # said, so vouch only for what is read from now on.
                    self.listening_since = sent
                    triggers_before = triggers
                complete = _as_expected(triggers, expected)
                if not complete:
                    self.confirmed_at = 0.0
                for notification in psycopg.notifies(timeout=PING_SECONDS):
                    if notification.payload == ping:
                        if complete:
                            self.confirmed_at = sent
                    elif notification.payload == TRIGGERS_CHANGED:
                        # A migrate took triggers away or wrote them: vouch
                        # for nothing until a ping finds them as expected.
                        self.listening_since = time.time()
                        self.confirmed_at = 0.0
                    elif not notification.payload.startswith("ping:"):
                        self.heard(notification.payload)
        finally:
            self.listening_since = None
            database.close()


# The listener's ping: a notification to itself, and the job triggers of the
# tables in the search path (another schema's are not ours), each with the
# id and version of its catalogue row, whether it fires, and its comment.
PING = """
    SELECT pg_notify(%s, %s), (
        SELECT json_agg(
            json_build_array(
                c.relname, t.tgname, t.oid, t.xmin::text, t.tgenabled,
                obj_description(t.oid, 'pg_trigger')
            )
            ORDER BY c.relname, t.tgname
        )
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE t.tgname IN ('box_changed', 'job_deleted')
        AND pg_table_is_visible(c.oid)
    )
"""
# Said by a migrate that takes triggers away or writes them, as it commits.
TRIGGERS_CHANGED = "triggers:changed"
# tgenabled of a trigger that fires in ordinary sessions (not "D"isabled,
# not "R"eplica only).
FIRES = ("O", "A")


def _as_expected(triggers: list, expected: dict) -> bool:
    """Whether every trigger this process's models need is there, fires, and
    names the columns its boxes are drawn from (a release whose columns
    differ from the database's, before or after its migrate, is not)."""
    in_place = {
        (table, name): said
        for table, name, _, _, fires, said in triggers
        if fires in FIRES
    }
    return all(
        key in in_place and in_place[key] == said for key, said in expected.items()
    )


# The one feed of this process.
feed = Feed()


def enabled() -> bool:
    return connection.vendor == "postgresql" and settings.JOB_CHANGE_FEED


def _own_connection():
    """A connection of the listener's own, kept out of Django's per-thread
    handler, named for pg_stat_activity, that gives up on a silent server."""
    default = connections[DEFAULT_DB_ALIAS]
    # Never from Django's pool (OPTIONS "pool"): this one stays LISTENing.
    shared = {k: v for k, v in default.settings_dict["OPTIONS"].items() if k != "pool"}
    options = {
        **shared,
        "application_name": CHANNEL,
        "keepalives": 1,
        "keepalives_idle": DEAD_CONNECTION_SECONDS // 3,
        "keepalives_interval": DEAD_CONNECTION_SECONDS // 9,
        "keepalives_count": 3,
        "tcp_user_timeout": DEAD_CONNECTION_SECONDS * 1000,
    }
    named = {**default.settings_dict, "OPTIONS": options}
    return type(default)(named, DEFAULT_DB_ALIAS)


def _expected_triggers(quote) -> dict[tuple[str, str], str | None]:
    """(table, trigger): its comment, for every job model of this process."""
    expected = {}
    for model in selectors.job_models():
        columns = [quote(field.column) for field in selectors.box_columns(model)]
        expected[(model._meta.db_table, "box_changed")] = _said(columns)
        expected[(model._meta.db_table, "job_deleted")] = None
    return expected


def _said(columns: list[str]) -> str:
    """The comment on a box_changed trigger: the columns it watches."""
    return "columns: " + ", ".join(columns)


def drop_triggers(using: str = DEFAULT_DB_ALIAS, plan=None, **kwargs) -> None:
    """Before a migrate with work for an app that has job models
    (pre_migrate): take their update triggers away, so that its migrations
    may change any column, and say so as that commits."""
    database = connections[using]
    if database.vendor != "postgresql" or not plan:
        return
    migrated = {migration.app_label for migration, _backwards in plan}
    models = [m for m in selectors.job_models() if m._meta.app_label in migrated]
    if not models:
        return
    quote = database.ops.quote_name
    with transaction.atomic(using=using), database.cursor() as cursor:
        tables = set(database.introspection.table_names(cursor))
        for model in models:
            if model._meta.db_table in tables:
                table = quote(model._meta.db_table)
                cursor.execute(f"DROP TRIGGER IF EXISTS box_changed ON {table}")
        cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, TRIGGERS_CHANGED])


def install_triggers(using: str = DEFAULT_DB_ALIAS, **kwargs) -> None:
    """After a migrate (post_migrate): write the triggers of every job table
    that lacks them, or whose box_changed does not watch the columns the
    table has (its comment says which), or that do not fire; or, with
    JOB_CHANGE_FEED off, drop them. Says so as that commits. A migrate with
    nothing to do only reads them."""
    database = connections[using]
    if database.vendor != "postgresql":
        return
    quote = database.ops.quote_name
    with transaction.atomic(using=using), database.cursor() as cursor:
        # One migrate at a time writes them (two hosts starting together).
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [CHANNEL])
        cursor.execute(
            "SELECT c.relname, t.tgname, t.tgenabled::text = ANY(%s),"
            " obj_description(t.oid, 'pg_trigger')"
            " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " WHERE t.tgname IN ('box_changed', 'job_deleted')"
            " AND pg_table_is_visible(c.oid)",
            [list(FIRES)],
        )
        written = {
            (table, name): said if fires else "(does not fire)"
            for table, name, fires, said in cursor.fetchall()
        }
        if settings.JOB_CHANGE_FEED:
            statements = _trigger_statements(database, cursor, written)
        else:
            statements = [f"DROP TRIGGER {name} ON {quote(t)}" for t, name in written]
        if statements:
            for sql in statements:
                cursor.execute(sql)
            cursor.execute("SELECT pg_notify(%s, %s)", [CHANNEL, TRIGGERS_CHANGED])


def _trigger_statements(database, cursor, written: dict) -> list[str]:
    """What makes every job table's triggers as they should be."""
    quote = database.ops.quote_name
    tables = database.introspection.table_names(cursor)
    statements = []
    for model in selectors.job_models():
        db_table = model._meta.db_table
        if db_table not in tables:
            continue  # Its app was migrated back to before it.
        # job_changed() names the row by its id.
        assert model._meta.pk.column == "id", model
        # The columns the table has, should a migrate have taken some away
        # that the model still names (the feed then vouches for nothing:
        # this process expects the model's).
        present = {
            column.name
            for column in database.introspection.get_table_description(cursor, db_table)
        }
        columns = [
            quote(field.column)
            for field in selectors.box_columns(model)
            if field.column in present
        ]
        said = _said(columns)
        table = quote(db_table)
        if written.get((db_table, "box_changed")) != said:
            old = ", ".join(f"OLD.{column}" for column in columns)
            new = ", ".join(f"NEW.{column}" for column in columns)
            literal = "'" + said.replace("'", "''") + "'"
            statements += [
                f"DROP TRIGGER IF EXISTS box_changed ON {table}",
                f"CREATE TRIGGER box_changed AFTER UPDATE ON {table}"
                f" FOR EACH ROW WHEN (({old}) IS DISTINCT FROM ({new}))"
                " EXECUTE FUNCTION job_changed()",
                f"COMMENT ON TRIGGER box_changed ON {table} IS {literal}",
            ]
        if written.get((db_table, "job_deleted"), "") is not None:
            statements += [
                f"DROP TRIGGER IF EXISTS job_deleted ON {table}",
                f"CREATE TRIGGER job_deleted AFTER DELETE ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION job_changed()",
            ]
    return [FUNCTION, *statements] if statements else []


FUNCTION = f"""
    CREATE OR REPLACE FUNCTION job_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME || ':' || OLD.id);
        RETURN NULL;
    END $$
"""
