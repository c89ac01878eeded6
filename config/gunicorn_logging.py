"""gunicorn's access log without device manifest polls.

Tens of thousands of devices poll their manifests every few seconds to a minute; one log line per
poll would bury every other request and cost more than answering the poll (which the WSGI fast path
does with one stat()). Polls are logged like nginx's `access_log off` for the same location:
not at all, unless they fail (4xx/5xx stay in the log). Everything else is logged as usual.
"""

from __future__ import annotations

from typing import Any

from gunicorn.glogging import Logger

_POLL_PATHS = ("/api/device/v1/manifest",)
_POLL_PREFIX = "/device-manifests/"


def is_quiet_poll(path: str, status: int) -> bool:
    polled = path in _POLL_PATHS or path.startswith(_POLL_PREFIX)
    return polled and status < 400


class QuietPollsLogger(Logger):  # type: ignore[misc]
    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        status = getattr(resp, "status_code", None) or int(str(resp.status).split()[0])
        if is_quiet_poll(environ.get("PATH_INFO", ""), int(status)):
            return
        super().access(resp, req, environ, request_time)
