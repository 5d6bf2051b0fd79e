"""How the adapter prepares statements: contract identifiers quoted in, values always bound."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from leadscore.warehouse import base


def quote(name: str) -> str:
    return f'"{name}"'


def test_placeholders_take_quoted_identifiers_and_only_those():
    text = "select {name_column} from {events} where occurred_at >= :window_start"
    filled = base._fill(text, {"events": "product_events", "name_column": "event_name"}, quote)
    # Identifiers are quoted by the dialect; the bind parameter stays a bind parameter.
    assert filled == 'select "event_name" from "product_events" where occurred_at >= :window_start'
    with pytest.raises(KeyError, match="events"):
        base._fill(text, {"name_column": "event_name"}, quote)


def test_list_parameters_expand_only_where_the_statement_uses_them():
    engine = sa.create_engine("sqlite://")
    with engine.connect() as conn:
        two_events = "select 'login' as e union all select 'odd'"
        statement = f"select count(*) from ({two_events}) where e not in :known"
        params = {"known": ["login", "document_signed"], "unused": ["x"]}
        assert conn.execute(base._text(statement, params), params).scalar() == 1
