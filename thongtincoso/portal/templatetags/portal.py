"""Template filters of the public portal: `{% load portal %}`."""

from __future__ import annotations

from django import template
from django.urls import reverse

from thongtincoso.bulletins.models import Attachment
from thongtincoso.portal import downloads

register = template.Library()


@register.filter
def attachment_url(attachment: Attachment) -> str:
    """`{{ file|attachment_url }}`: where the portal serves an attachment."""
    return reverse("portal:attachment", args=[attachment.pk, downloads.url_name(attachment)])
