"""The orders whose rows are apart in a file (`C-1`, `C-2`, `C-1`), found by
a first pass over it, before the import writes anything.

An order is imported whole or not at all, and once it is there a second
import skips it. So the rows of an order that come back further down the
file cannot be imported with it, and must not be imported without the
others: every row of such an order is rejected, and the rejected-rows file
then holds the whole order, which imports whole once its rows are together.
The importer reads and writes the file a batch at a time and cannot see what
comes further down, so this pass reads the whole file first, streamed, and
notes each run of consecutive rows of one order in an SQLite table, in a
temporary file that SQLite deletes when it is closed: memory stays flat
however long the file is, and the split orders (usually none) are a GROUP BY
away.

The pass runs again at each attempt: it reads the same stored file, so a
resumed attempt rejects the same orders as the attempt it follows.
"""

import sqlite3
from collections.abc import Iterable
from typing import BinaryIO

from apps.orders.imports import rows, upload

# Runs written to SQLite at a time.
CHUNK = 10_000
# Parameters of one lookup (SQLite allows 32,766; any older one, 999).
LOOKUP = 900
# Runs of one order a reason names; it must fit the reason's 500 characters.
NAMED_RUNS = 10
# Rows read between two calls of the checkpoint (where a cancel stops it).
CHECKPOINT_ROWS = 100_000


class SplitOrders:
    """The external ids whose rows are not all consecutive in one file;
    close it (or use it in a `with`) to delete its temporary file."""

    def __init__(self, file: BinaryIO, columns: dict[str, int], checkpoint=None):
        """Read `file` through, calling `checkpoint(rows_read)` every
        CHECKPOINT_ROWS rows: the job's progress, where a cancel stops it."""
        # "": a private database in a temporary file, deleted on close; its
        # pages stay in a small cache and the rest goes to the file.
        self.db = sqlite3.connect("")
        for pragma in (
            "cache_size = -2048",  # KiB.
            "temp_store = FILE",
            "journal_mode = OFF",
            "synchronous = OFF",
        ):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute(
            "CREATE TABLE runs (external_id TEXT, first_row INTEGER, last_row INTEGER)"
        )
        try:
            self._note_runs(file, columns, checkpoint or (lambda rows_read: None))
        except BaseException:
            self.close()  # Cancelled, or the worker is stopping.
            raise
        self.db.execute(
            "CREATE TABLE split (external_id TEXT PRIMARY KEY) WITHOUT ROWID"
        )
        self.db.execute(
            "INSERT INTO split SELECT external_id FROM runs"
            " GROUP BY external_id HAVING count(*) > 1"
        )
        (self.count,) = self.db.execute("SELECT count(*) FROM split").fetchone()
        if self.count:
            # Only the split orders' runs are looked up again: keep those.
            self.db.execute(
                "CREATE TABLE split_runs AS SELECT * FROM runs"
                " WHERE external_id IN (SELECT external_id FROM split)"
            )
            self.db.execute(
                "CREATE INDEX split_runs_id ON split_runs (external_id, first_row)"
            )
        self.db.execute("DROP TABLE runs")

    def _note_runs(self, file: BinaryIO, columns: dict[str, int], checkpoint) -> None:
        noted, key, first, last = [], None, 0, 0
        try:
            for number, cells in rows.read_rows(file):
                if number % CHECKPOINT_ROWS == 0:
                    checkpoint(number)
                # The importer's groups: an empty id is an order of its own.
                this = rows.external_id_of(cells, columns)
                if this and this == key:
                    last = number
                    continue
                if key:
                    noted.append((key, first, last))
                key, first, last = this, number, number
                if len(noted) >= CHUNK:
                    self.db.executemany("INSERT INTO runs VALUES (?, ?, ?)", noted)
                    noted.clear()
        except upload.FileRefused:
            pass  # The import stops there too, and says why.
        if key:
            noted.append((key, first, last))
        self.db.executemany("INSERT INTO runs VALUES (?, ?, ?)", noted)

    def among(self, external_ids: Iterable[str]) -> set[str]:
        """Those of `external_ids` whose rows are apart."""
        if not self.count:
            return set()
        ids = list(external_ids)
        found = set()
        for start in range(0, len(ids), LOOKUP):
            chunk = ids[start : start + LOOKUP]
            found.update(
                external_id
                for (external_id,) in self.db.execute(
                    "SELECT external_id FROM split WHERE external_id IN"  # noqa: S608
                    f" ({', '.join('?' * len(chunk))})",
                    chunk,
                )
            )
        return found

    def reason(self, external_id: str) -> str:
        """Why the rows of a split order are rejected, naming where they are."""
        runs = self.db.execute(
            "SELECT first_row, last_row FROM split_runs WHERE external_id = ?"
            " ORDER BY first_row",
            [external_id],
        ).fetchall()
        named = [
            f"{first:,}" if first == last else f"{first:,}-{last:,}"
            for first, last in runs[:NAMED_RUNS]
        ]
        if len(runs) > NAMED_RUNS:
            named.append(f"in {len(runs) - NAMED_RUNS:,} more places")
        where = ", ".join(named[:-1]) + " and " + named[-1]
        return (
            f"The rows of order {external_id!r} must be on consecutive lines; "
            f"they are on rows {where}, so none of them was imported."
        )

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()
