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
        cursor.execute(statement)
        reader = cursor.fetch_record_batch()
        with pa.ipc.new_stream(sys.stdout.buffer, reader.schema) as stream:
            for batch in reader:
                stream.write_batch(batch)


if __name__ == "__main__":
    main()
