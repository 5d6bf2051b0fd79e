"""A child process that reads one SQLite statement through ADBC and streams it out as Arrow.

    python -I sqlite_arrow.py <database file>   (the statement on stdin; none: exit at once)

`SQLiteWarehouse.read_arrow` runs it: ADBC's SQLite driver links its own copy of the SQLite
library, which must never open the warehouse file in the job's own process (see
`SQLiteWarehouse`); in a process of its own it is one more reader like any other. The rows go to
stdout as an Arrow IPC stream; a statement the driver refuses (a column of mixed types) exits
non-zero with the driver's message on stderr, and the job reads it row by row instead.
"""

from __future__ import annotations

import sys

# Rows a batch: the driver takes each column's type from the first batch. At its default (1,024)
# a column null in the first thousand rows was taken as integer and its first text refused:
# the 1M-lead demo's opportunities (the first 1,024 without a lead) went row by row, 2.8 s
# instead of 0.2. Values of mixed types within the first batch are read as their text.
BATCH_ROWS = 65_536


def main() -> None:
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    # Started ahead of its read (the imports above are most of its start): no statement means
    # the job ended without one for it.
    path, statement = sys.argv[1], sys.stdin.read()
    if not statement.strip():
        return
    # Read-only: this process only reads; the job holds the run lock and does the writing.
    with adbc.connect(f"file:{path}?mode=ro") as conn, conn.cursor() as cursor:
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
        cursor.execute(statement)
        reader = cursor.fetch_record_batch()
        with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as stream:
            for batch in reader:
                stream.write_batch(batch)


if __name__ == "__main__":
    main()
