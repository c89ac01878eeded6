"""Per-request facts (request id, client address) that the audit log and logs need.

Services never take a request object; the middleware puts these in context variables instead, so a
service called from a view, the API, a job or a management command records the same way.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("ttcs_request_context", default=None)


def current() -> RequestContext | None:
    return _current.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def activate(ctx: RequestContext) -> None:
    """Make `ctx` current until `clear()` (the middleware, per request)."""
    _current.set(ctx)


def clear(**_signal_kwargs: object) -> None:
    """Forget the request's facts; connected to Django's request_finished signal."""
    _current.set(None)


@contextmanager
def request_context(
    *, request_id: str | None = None, ip: str | None = None
) -> Iterator[RequestContext]:
    ctx = RequestContext(request_id=request_id or new_request_id(), ip=ip)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = current()
        record.request_id = ctx.request_id if ctx else "-"
        return True
