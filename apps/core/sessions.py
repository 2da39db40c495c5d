"""
Django's database sessions, read with one SQL statement written out rather
than built by the ORM.

Nearly every request reads its session (a job's status poll that finds
nothing new is the exception: apps.core.status.box_unchanged), and for a
lookup this small, building the query and the model instance costs several
times what the database takes to answer. Writing, expiry and clearing stay
Django's own.
"""

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def load(self):
        # What db.SessionStore.load does: the session's data if it exists
        # and has not expired, else an empty session with no key.
        model = self.model
        connection = connections[router.db_for_read(model)]
        quote = connection.ops.quote_name
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {quote('session_data')} FROM {quote(model._meta.db_table)}"  # noqa: S608 (names quoted, values as parameters)
                f" WHERE {quote('session_key')} = %s AND {quote('expire_date')} > %s",
                [self.session_key, now],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return {}
        return self.decode(row[0])
