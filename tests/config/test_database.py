import pytest
from django.db import connection

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite only (make run); CI uses PostgreSQL"
)


@sqlite_only
@pytest.mark.django_db
def test_sqlite_lets_web_worker_and_beat_write_side_by_side():
    with connection.cursor() as cursor:
        journal_mode = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        busy_timeout = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
    assert journal_mode == "wal"
    assert busy_timeout == 20000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
