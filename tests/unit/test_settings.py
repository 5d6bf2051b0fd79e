from __future__ import annotations

import pytest

from leadscore.errors import LeadscoreError
from leadscore.settings import DEFAULT_URL, load_settings


def test_defaults_env_and_overrides(monkeypatch):
    monkeypatch.delenv("LEADSCORE_WAREHOUSE_URL", raising=False)
    assert load_settings().warehouse_url == DEFAULT_URL
    monkeypatch.setenv("LEADSCORE_HORIZON_DAYS", "60")
    monkeypatch.setenv("LEADSCORE_WAREHOUSE_URL", "sqlite:///env.db")
    s = load_settings(warehouse_url="sqlite:///flag.db")
    # A flag beats the environment, which beats the default.
    assert (s.horizon_days, s.warehouse_url) == (60, "sqlite:///flag.db")


def test_a_bad_value_names_its_variable(monkeypatch):
    monkeypatch.setenv("LEADSCORE_HORIZON_DAYS", "ninety")
    with pytest.raises(LeadscoreError, match="LEADSCORE_HORIZON_DAYS"):
        load_settings()


def test_the_password_never_reaches_the_run_record():
    s = load_settings(warehouse_url="postgresql+psycopg://u:secret@host/db")
    assert "secret" not in str(s.public())


def test_train_threads_is_zero_for_every_core_or_a_count(monkeypatch):
    # 0 means one thread per core (threadpoolctl's None); a negative count means nothing.
    monkeypatch.setenv("LEADSCORE_TRAIN_THREADS", "0")
    assert load_settings().train_threads == 0
    monkeypatch.setenv("LEADSCORE_TRAIN_THREADS", "-2")
    with pytest.raises(LeadscoreError, match="LEADSCORE_TRAIN_THREADS"):
        load_settings()
