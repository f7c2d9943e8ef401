"""A server that never answers a session's close does not hold a kpitree command (a Spark 4
Thrift server without hive-llap-common left every later CloseSession waiting: docs/scaling.md)."""

from __future__ import annotations

import time

import pytest

import kpitree.warehouse
from kpitree.warehouse import open_warehouse
from tests.hive_like import hive_like_server


def test_a_close_the_server_never_answers_is_left_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(kpitree.warehouse, "CLOSE_SECONDS", 0.5)
    with hive_like_server() as (url, server):
        warehouse = open_warehouse(url)
        with warehouse.connect() as connection:  # a session, its settings, a statement
            connection.exec_driver_sql("SELECT 1")
        assert "SET spark.sql.session.timeZone=UTC" in server.statements
        started = time.monotonic()
        warehouse.dispose()
        waited = time.monotonic() - started
        assert server.closes_asked == 1  # asked, and never answered
        assert 0.5 <= waited < 5
        assert "did not answer closing its session within 0.5 s" in caplog.text
        assert "hive-llap-common" in caplog.text


def test_a_close_the_server_answers_is_waited_for_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with hive_like_server() as (url, server):
        server.release.set()  # closes are answered at once
        warehouse = open_warehouse(url)
        with warehouse.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        warehouse.dispose()
        assert server.closes_asked == 1
        assert "did not answer" not in caplog.text
