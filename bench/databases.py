"""A throwaway PostgreSQL database for a part of the bench."""

from contextlib import contextmanager


def names_postgresql(database_url: str) -> bool:
    return database_url.startswith(("postgres://", "postgresql://"))


@contextmanager
def throwaway(database_url: str, name: str):
    """An empty database called `name` on `database_url`'s server, dropped
    afterwards; its URL."""
    import psycopg

    server = database_url.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
