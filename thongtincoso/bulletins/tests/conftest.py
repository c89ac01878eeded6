import pytest
from django.utils import translation

from .factories import staff  # noqa: F401  (fixture)


@pytest.fixture(autouse=True)
def _english_service_messages():
    """Services called directly (outside a request) speak English here, so tests can match their
    messages; requests still choose their language through the middleware."""
    with translation.override("en"):
        yield
