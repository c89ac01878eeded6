"""E-mail delivery of notifications, retried by Huey when the mail server is away."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail
from huey.contrib.djhuey import task


@task(retries=5, retry_delay=60)
def send_notification_email(addresses: list[str], message: str, url: str) -> int:
    link = f"{settings.PUBLIC_BASE_URL.rstrip('/')}{url}" if url else ""
    body = f"{message}\n\n{link}".strip()
    # One message per recipient: addresses of colleagues are not shared with each other.
    sent = 0
    for address in addresses:
        sent += send_mail(message[:150], body, None, [address])
    return sent
