"""Device polls stay out of gunicorn's access log; failures and everything else stay in."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from config.gunicorn_logging import QuietPollsLogger, is_quiet_poll


@pytest.mark.parametrize(
    ("path", "status", "quiet"),
    [
        ("/api/device/v1/manifest", 304, True),
        ("/api/device/v1/manifest", 200, True),
        ("/device-manifests/" + "a" * 64 + ".json", 304, True),
        ("/api/device/v1/manifest", 401, False),  # a revoked device keeps knocking: log it
        ("/device-manifests/" + "0" * 64 + ".json", 404, False),
        ("/api/device/v1/heartbeat", 200, False),
        ("/radio/", 200, False),
    ],
)
def test_which_requests_are_left_out(path: str, status: int, quiet: bool) -> None:
    assert is_quiet_poll(path, status) is quiet


def test_the_logger_passes_everything_else_to_gunicorn(monkeypatch: Any) -> None:
    logged: list[str] = []
    monkeypatch.setattr(
        Logger, "access", lambda self, resp, req, environ, t: logged.append(environ["PATH_INFO"])
    )
    logger = QuietPollsLogger(Config())
    for path, status in (("/api/device/v1/manifest", "304 Not Modified"), ("/radio/", "200 OK")):
        logger.access(SimpleNamespace(status=status), None, {"PATH_INFO": path}, None)
    assert logged == ["/radio/"]
