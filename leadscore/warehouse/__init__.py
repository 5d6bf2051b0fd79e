"""The edge between the job and the warehouse. `connect(url)` opens the warehouse of the URL's
dialect: the module `leadscore.warehouse.<dialect>` (its `WAREHOUSE` class) and the statements of
`sql/` (with `sql/<dialect>/` first). Adding a dialect is one module and one folder."""

from __future__ import annotations

import importlib

import sqlalchemy as sa

from leadscore.errors import LeadscoreError
from leadscore.settings import redact_url
from leadscore.warehouse.base import Session, Warehouse, cutoff
from leadscore.warehouse.frames import Schema, coerce, empty

DIALECTS = ("sqlite", "postgresql")


def connect(url: str) -> Warehouse:
    """The warehouse at `url`, checked with a round trip so a bad URL fails here with one line."""
    try:
        parsed = sa.engine.make_url(url)
    except Exception:  # noqa: BLE001 (whatever the parser raised, the user gets one line)
        raise LeadscoreError(
            f"warehouse URL {url!r} is not a database URL "
            "(e.g. sqlite:///leadscore.db or postgresql+psycopg://user@host/db)"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in DIALECTS:
        raise LeadscoreError(
            f"warehouse {redact_url(url)}: only {' and '.join(DIALECTS)} are supported"
        )
    kind: type[Warehouse] = importlib.import_module(f"leadscore.warehouse.{backend}").WAREHOUSE
    warehouse = kind(url, kind.create_engine(parsed))
    try:
        with warehouse.engine.connect() as conn:
            conn.execute(sa.select(1))
    except Exception as exc:  # noqa: BLE001 (each driver raises its own kind: all mean "cannot connect")
        raise LeadscoreError(
            f"cannot connect to warehouse {redact_url(url)}: {str(exc).splitlines()[0]}"
        ) from None
    return warehouse


__all__ = ["DIALECTS", "Schema", "Session", "Warehouse", "coerce", "connect", "cutoff", "empty"]
