"""DATABASE_URL naming a SQLite file gets the embedded default's tuning (config/env.py)."""

from __future__ import annotations

import pytest

from config import env


def test_a_sqlite_file_url_gets_immediate_transactions_and_wal(
    monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setattr(env, "DATABASE_URL", f"sqlite:///{tmp_path}/e2e.sqlite3")
    config = env.database_config()
    assert config["NAME"] == f"{tmp_path}/e2e.sqlite3"
    assert config["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in config["OPTIONS"]["init_command"]


def test_a_postgresql_url_is_left_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env, "DATABASE_URL", "postgres://ttcs@127.0.0.1:5432/ttcs")
    config = env.database_config()
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert config["NAME"] == "ttcs"
    assert "transaction_mode" not in config.get("OPTIONS", {})
