"""A user's mistake gets one clear line and a non-zero exit, not a traceback."""

from __future__ import annotations

import pytest

from leadscore.cli import main


def test_bad_url(capsys):
    assert main(["queue", "--url", "nonsense://x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nonsense://x" in err


def test_unreachable_database(capsys, tmp_path):
    assert main(["init-db", "--url", f"sqlite:///{tmp_path}/missing/dir/x.db"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_bad_date(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--date", "2026-13-01"])
    assert exit_info.value.code == 2
    assert "not a date" in capsys.readouterr().err


@pytest.mark.usefixtures("prefect_harness")
def test_missing_source_tables(capsys, warehouse_url):
    assert main(["run", "--date", "2026-06-30", "--url", warehouse_url]) == 2
    err = capsys.readouterr().err
    assert "no table crm_accounts" in err and "Traceback" not in err


def test_init_db_is_idempotent(warehouse_url):
    assert main(["init-db", "--url", warehouse_url]) == 0
    assert main(["init-db", "--url", warehouse_url]) == 0
