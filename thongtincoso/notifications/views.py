"""The notifications page: a person's own notifications, newest first."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from thongtincoso.accounts import policy

from . import selectors, services

PAGE_SIZE = 50


@login_required
def notification_list(request: HttpRequest) -> HttpResponse:
    rows = selectors.notifications_for(request.user)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "bulletins/notifications.html",
        {"notifications": page, "unread": selectors.unread_count(request.user)},
    )


@login_required
@require_POST
def notifications_mark_all_read(request: HttpRequest) -> HttpResponse:
    count = services.notifications_mark_read(user=policy.acting_user(request))
    if count:
        messages.success(request, _("All notifications marked as read."))
    return redirect("bulletins:notifications")


@login_required
@require_POST
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Mark one notification read and follow its link (only ever a link inside this site)."""
    notification = selectors.notifications_for(request.user).filter(pk=notification_id).first()
    if notification is None:
        raise Http404
    services.notifications_mark_read(user=policy.acting_user(request), ids=[notification.pk])
    url = notification.url
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(url)
    return redirect("bulletins:notifications")
