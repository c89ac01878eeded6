"""Staff pages of bulletins: writing, the approval workflow, revisions, the commune inbox.

Thin, like the rest of the staff shell (`web/views.py`): each view finds its object through a
selector (404 when out of scope), parses input with a form, calls one service and renders. A
ServiceError is shown next to the form it concerns; a ConflictError (a stale edit, a transition
no longer possible) as a message, with HTTP 409.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from thongtincoso.accounts import policy
from thongtincoso.accounts.roles import Action
from thongtincoso.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
)
from thongtincoso.units import selectors as unit_selectors
from thongtincoso.units.models import Unit
from thongtincoso.web.shortcuts import form_error, safe_next, scoped_unit

from . import config_services, content, forms, selectors, services
from .diff import revision_diff
from .models import (
    MAX_ID,
    Bulletin,
    Category,
    Channel,
    Delivery,
    DeliveryStatus,
    Language,
    Priority,
)

PAGE_SIZE = 25
DELIVERY_PAGE_SIZE = 100
INBOX_PAGE_SIZE = 50
REVISION_PAGE_SIZE = 50
# Longest text the live estimate looks at (a bulletin read for an hour is far shorter).
ESTIMATE_MAX_CHARS = 200_000


# --- Helpers --------------------------------------------------------------------------------


def _bulletin(request: HttpRequest, pk: Any, action: str = Action.VIEW) -> Bulletin:
    """The bulletin if the user may `action` it; otherwise 404, exactly like a missing one."""
    bulletin = selectors.bulletin_for(request.user, pk, action)
    if bulletin is None:
        raise Http404
    return bulletin


def _form_status(form: Any) -> int:
    return 400 if form.is_bound and form.errors else 200


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _query_without_page(request: HttpRequest, *names: str) -> str:
    query = request.GET.copy()
    for name in names or ("page",):
        query.pop(name, None)
    return query.urlencode()


def mmss(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


# --- List -----------------------------------------------------------------------------------


@login_required
def bulletin_list(request: HttpRequest) -> HttpResponse:
    """Bulletins the user may see, filtered; htmx requests get the table alone."""
    form = forms.BulletinFilterForm(request.GET or None)
    data: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # a bad value is reported; the other filters still apply
        data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    rows = selectors.bulletin_list(request.user, selectors.BulletinFilters(**data))
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "bulletins": page,
        "query": _query_without_page(request),
        "compose_units": unit_selectors.unit_home_units(request.user, Action.EDIT),
    }
    template = "bulletins/_bulletin_table.html" if _is_htmx(request) else "bulletins/list.html"
    return render(request, template, context)


# --- Writing --------------------------------------------------------------------------------


def _initial(bulletin: Bulletin) -> dict[str, Any]:
    return {
        "version": bulletin.version,
        "title": bulletin.title,
        "summary": bulletin.summary,
        "body": bulletin.body,
        # Empty while the reading text is derived from the body, so it follows the body.
        "reading_text": bulletin.reading_text if bulletin.reading_text_edited else "",
        "category": bulletin.category.code,
        "language": bulletin.language.code,
        "channels": list(bulletin.channels),
        "priority": bulletin.priority,
        "valid_from": bulletin.valid_from,
        "valid_until": bulletin.valid_until,
        "targets": list(bulletin.targets.values_list("code", flat=True)),
        "tags": ", ".join(bulletin.tags.values_list("name", flat=True)),
        "source_note": bulletin.source_note,
    }


@login_required
def bulletin_create(request: HttpRequest) -> HttpResponse:
    """A new draft for `?unit=CODE` (the user's only unit with the edit right when omitted)."""
    code = request.GET.get("unit", "").strip()
    if not code:
        homes = unit_selectors.unit_home_units(request.user, Action.EDIT)
        if len(homes) != 1:
            if not homes:
                raise Http404
            messages.info(request, _("Choose the unit the bulletin is for."))
            return redirect("bulletins:list")
        code = homes[0].code
    unit = scoped_unit(request, code, Action.EDIT)
    form = forms.BulletinForm(
        request.POST or None,
        unit=unit,
        initial={
            "channels": list(services.DEFAULT_CHANNELS),
            "language": "vi",
            "priority": Priority.NORMAL,
            "targets": [unit.code],
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            bulletin = services.bulletin_create(
                actor=policy.acting_user(request), unit=unit, **form.service_fields()
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Draft saved. Submit it for approval when it is ready."))
            return redirect("bulletins:detail", pk=bulletin.pk)
    return render(
        request,
        "bulletins/compose.html",
        {"form": form, "unit": unit, "bulletin": None},
        status=_form_status(form),
    )


def _editable_or_redirect(request: HttpRequest, bulletin: Bulletin) -> HttpResponse | None:
    if not policy.may(request.user, Action.EDIT, bulletin):
        messages.error(request, _("You are not allowed to do this with this bulletin."))
        return redirect("bulletins:detail", pk=bulletin.pk)
    if not bulletin.is_editable:
        messages.error(
            request,
            _("A bulletin that is “%(status)s” cannot be edited; reopen it first.")
            % {"status": bulletin.get_status_display()},
        )
        return redirect("bulletins:detail", pk=bulletin.pk)
    return None


def _edit_form(request: HttpRequest, bulletin: Bulletin) -> forms.BulletinForm:
    return forms.BulletinForm(
        request.POST if request.method == "POST" else None,
        unit=bulletin.unit,
        current_targets=list(bulletin.targets.all()),
        initial=_initial(bulletin),
    )


@login_required
def bulletin_edit(request: HttpRequest, pk: int) -> HttpResponse:
    bulletin = _bulletin(request, pk)
    refused = _editable_or_redirect(request, bulletin)
    if refused is not None:
        return refused
    form = _edit_form(request, bulletin)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            services.bulletin_update(
                actor=policy.acting_user(request),
                bulletin=bulletin,
                version=form.cleaned_data.get("version") or 0,
                **form.service_fields(),
            )
        except ConflictError as exc:
            # The person's text stays in the form; the first save is kept in the database.
            messages.error(request, str(exc.message))
            status = 409
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Changes saved."))
            return redirect("bulletins:detail", pk=bulletin.pk)
    return render(
        request,
        "bulletins/compose.html",
        {"form": form, "unit": bulletin.unit, "bulletin": bulletin, "conflict": status == 409},
        status=status if status != 200 else _form_status(form),
    )


@login_required
@require_POST
def bulletin_autosave(request: HttpRequest, pk: int) -> HttpResponse:
    """htmx: save the form as it is, quietly; answers a status line and the new version."""
    bulletin = _bulletin(request, pk)
    form = _edit_form(request, bulletin)
    context: dict[str, Any] = {"bulletin": bulletin}
    status = 200
    if not form.is_valid():
        field, errors = next(iter(form.errors.items()))
        label = form.fields[field].label if field in form.fields else ""
        context["error"] = f"{label}: {errors[0]}" if label else errors[0]
        status = 400
    else:
        try:
            updated = services.bulletin_update(
                actor=policy.acting_user(request),
                bulletin=bulletin,
                version=form.cleaned_data.get("version") or 0,
                autosave=True,
                **form.service_fields(),
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ConflictError as exc:
            context["error"] = str(exc.message)
            status = 409
        except ServiceError as exc:
            context["error"] = str(exc.message)
            status = 400
        else:
            context.update(saved_at=timezone.now(), version=updated.version)
    return render(request, "bulletins/_autosave.html", context, status=status)


@login_required
@require_POST
def estimate(request: HttpRequest) -> HttpResponse:
    """htmx: spoken length of the reading text (or the body) and SMS length of the summary."""
    reading = request.POST.get("reading_text", "")[:ESTIMATE_MAX_CHARS]
    derived = not reading.strip()
    if derived:
        body = request.POST.get("body", "")[:ESTIMATE_MAX_CHARS]
        reading = content.html_to_text(content.sanitise_html(body))
    chars, parts, encoding = content.sms_parts(request.POST.get("summary", "")[:500])
    return render(
        request,
        "bulletins/_estimate.html",
        {
            "spoken": mmss(content.estimate_spoken_seconds(reading)),
            "derived": derived,
            "sms_chars": chars,
            "sms_parts": parts,
            "sms_encoding": encoding,
        },
    )


# --- Detail and workflow --------------------------------------------------------------------


def _detail_context(
    request: HttpRequest,
    bulletin: Bulletin,
    *,
    transition_errors: dict[str, str] | None = None,
    attachment_form: forms.AttachmentForm | None = None,
) -> dict[str, Any]:
    user = request.user
    transitions = services.allowed_transitions(user, bulletin)
    can_edit = bulletin.is_editable and policy.may(user, Action.EDIT, bulletin)
    sms_chars, sms_parts, sms_encoding = content.sms_parts(bulletin.summary)
    # The origin's per-commune lines, optionally only those in one status (e.g. who declined).
    dstatus = request.GET.get("dstatus", "")
    lines = selectors.deliveries_of(bulletin)
    if dstatus in DeliveryStatus.values:
        lines = lines.filter(status=dstatus)
    else:
        dstatus = ""
    deliveries = Paginator(lines, DELIVERY_PAGE_SIZE).get_page(request.GET.get("dpage"))
    summary = selectors.delivery_summary(bulletin)
    origin = bulletin.origin
    return {
        "bulletin": bulletin,
        "body_html": content.safe_body_html(bulletin.body),
        "transitions": transitions,
        "transition_forms": _transition_forms(transitions, transition_errors or {}),
        "blocker": (
            services.approval_blocker(policy.acting_user(request), bulletin)
            if "approve" in transitions
            else None
        ),
        "can_edit": can_edit,
        "attachment_form": attachment_form or forms.AttachmentForm(),
        "attachments": bulletin.attachments.select_related("uploaded_by"),
        "reviews": bulletin.reviews.select_related("requested_by", "decided_by", "revision"),
        "targets": bulletin.targets.order_by("path"),
        "tags": bulletin.tags.all(),
        "channels": [c for c in Channel if c.value in (bulletin.channels or [])],
        "spoken": mmss(content.estimate_spoken_seconds(bulletin.reading_text)),
        "sms_chars": sms_chars,
        "sms_parts": sms_parts,
        "sms_encoding": sms_encoding,
        "deliveries": deliveries,
        "delivery_summary": [(s, DeliveryStatus(s).label, n) for s, n in summary.items()],
        "delivery_total": sum(summary.values()),
        "dstatus": dstatus,
        "origin_visible": origin is not None and policy.may(user, Action.VIEW, origin),
        "revision_count": bulletin.revisions.count(),
    }


def _transition_forms(names: list[str], errors: dict[str, str]) -> list[dict[str, Any]]:
    """What the detail page draws for each step: its button, its text box, its error."""
    buttons = {
        "submit": _("Submit for approval"),
        "recall": _("Take back to edit"),
        "approve": _("Approve"),
        "return": _("Return for changes"),
        "publish": _("Publish now"),
        "withdraw": _("Withdraw"),
        "reopen": _("Reopen as a draft"),
    }
    texts = {
        "approve": (_("Comment (optional)"), False),
        "return": (_("What should the author change?"), True),
        "withdraw": (_("Reason for withdrawing"), True),
    }
    return [
        {
            "name": name,
            "button": buttons[name],
            "text_label": texts[name][0] if name in texts else "",
            "text_required": texts[name][1] if name in texts else False,
            "error": errors.get(name, ""),
        }
        for name in names
    ]


@login_required
def bulletin_detail(request: HttpRequest, pk: int) -> HttpResponse:
    bulletin = _bulletin(request, pk)
    return render(request, "bulletins/detail.html", _detail_context(request, bulletin))


def _transition_done(name: str) -> str:
    return {
        "submit": _("Submitted for approval. The approvers have been notified."),
        "recall": _("Taken back: the bulletin is a draft again."),
        "approve": _("Approved."),
        "return": _("Returned to the author for changes."),
        "publish": _("Published."),
        "withdraw": _("Withdrawn."),
        "reopen": _("Reopened as a draft; it needs a new approval."),
    }[name]


@login_required
@require_POST
def bulletin_transition(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    """One workflow step (submit, approve, return…); `comment` carries a comment or a reason."""
    bulletin = _bulletin(request, pk)
    service = services.TRANSITION_SERVICES.get(name)
    if service is None:
        raise Http404
    text = request.POST.get("comment", "")[:2000]
    kwargs: dict[str, Any] = {}
    if name in ("approve", "return"):
        kwargs["comment"] = text
    elif name == "withdraw":
        kwargs["reason"] = text
    detail_url = reverse("bulletins:detail", args=[bulletin.pk])
    next_url = safe_next(request, detail_url)
    try:
        service(actor=policy.acting_user(request), bulletin=bulletin, **kwargs)
    except NotFoundError as exc:
        raise Http404 from exc
    except (ConflictError, PermissionDeniedError) as exc:
        messages.error(request, str(exc.message))
        return redirect(next_url)
    except ServiceError as exc:
        if next_url != detail_url:
            messages.error(request, str(exc.message))
            return redirect(next_url)
        context = _detail_context(request, bulletin, transition_errors={name: str(exc.message)})
        return render(request, "bulletins/detail.html", context, status=400)
    messages.success(request, _transition_done(name))
    return redirect(next_url)


@login_required
@require_POST
def attachment_add(request: HttpRequest, pk: int) -> HttpResponse:
    bulletin = _bulletin(request, pk)
    form = forms.AttachmentForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            services.attachment_add(
                actor=policy.acting_user(request),
                bulletin=bulletin,
                stream=upload,
                name=upload.name or "",
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("File attached."))
            return redirect("bulletins:detail", pk=bulletin.pk)
    context = _detail_context(request, bulletin, attachment_form=form)
    return render(request, "bulletins/detail.html", context, status=400)


@login_required
@require_POST
def attachment_remove(request: HttpRequest, pk: int, attachment_id: int) -> HttpResponse:
    bulletin = _bulletin(request, pk)
    attachment = bulletin.attachments.filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404
    try:
        services.attachment_remove(actor=policy.acting_user(request), attachment=attachment)
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("“%(name)s” removed.") % {"name": attachment.original_name})
    return redirect("bulletins:detail", pk=bulletin.pk)


# --- Revisions ------------------------------------------------------------------------------


@login_required
def revision_list(request: HttpRequest, pk: int) -> HttpResponse:
    bulletin = _bulletin(request, pk)
    revisions = bulletin.revisions.select_related("author").order_by("-number")
    older, newer = request.GET.get("a", ""), request.GET.get("b", "")
    # isdecimal, not isdigit: "²" is a digit that int() refuses.
    if older.isdecimal() and newer.isdecimal():
        return redirect("bulletins:revision_diff", pk=bulletin.pk, a=int(older), b=int(newer))
    page = Paginator(revisions, REVISION_PAGE_SIZE).get_page(request.GET.get("page"))
    numbers = list(revisions.values_list("number", flat=True)[:500])
    return render(
        request,
        "bulletins/revisions.html",
        {"bulletin": bulletin, "revisions": page, "numbers": numbers},
    )


@login_required
def revision_diff_view(request: HttpRequest, pk: int, a: int, b: int) -> HttpResponse:
    bulletin = _bulletin(request, pk)
    if not (0 < a <= MAX_ID and 0 < b <= MAX_ID):
        raise Http404  # a larger number would overflow inside the database driver
    found = {r.number: r for r in bulletin.revisions.filter(number__in=[a, b])}
    if a not in found or b not in found:
        raise Http404
    return render(
        request,
        "bulletins/revision_diff.html",
        {
            "bulletin": bulletin,
            "old": found[a],
            "new": found[b],
            "diff": revision_diff(found[a], found[b]),
        },
    )


# --- Approval queue -------------------------------------------------------------------------


@login_required
def approval_queue(request: HttpRequest) -> HttpResponse:
    user = policy.acting_user(request)
    if not policy.may_anywhere(user, Action.APPROVE):
        raise Http404
    page = Paginator(selectors.approval_queue(user), PAGE_SIZE).get_page(request.GET.get("page"))
    for bulletin in page.object_list:
        bulletin.blocker = services.approval_blocker(user, bulletin)  # type: ignore[attr-defined]
    return render(request, "bulletins/queue.html", {"bulletins": page})


# --- Commune inbox --------------------------------------------------------------------------


def _may_decide(user: Any, commune: Unit) -> bool:
    return any(policy.may(user, a, commune) for a in services.INBOX_ACTIONS)


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """Relayed bulletins in TT 39 order: emergencies, priority items, then normal ones."""
    user = request.user
    communes = list(
        Unit.objects.filter(pk__in=selectors.inbox(user).values("commune_id")).order_by("name")
    )
    by_code = {u.code: u for u in communes}
    form = forms.InboxFilterForm(
        request.GET or None, communes=[(u.code, f"{u.name} ({u.code})") for u in communes]
    )
    commune, status = None, ""
    if form.is_bound and form.is_valid():
        commune = by_code.get(form.cleaned_data["commune"])
        status = form.cleaned_data["status"]
    rows = selectors.inbox(user, commune=commune, status=status)
    page = Paginator(rows, INBOX_PAGE_SIZE).get_page(request.GET.get("page"))
    items = list(page.object_list)
    # Up/down buttons: the first and last priority item of each commune on this page.
    priority_order: dict[int, list[int]] = {}
    for d in items:
        if d.priority == Priority.PRIORITY:
            priority_order.setdefault(d.commune_id, []).append(d.pk)
    for d in items:
        d.may_decide = _may_decide(user, d.commune)  # type: ignore[attr-defined]
        d.may_adapt = not d.local_copy_id and policy.may(user, Action.EDIT, d.commune)  # type: ignore[attr-defined]
        order = priority_order.get(d.commune_id, [])
        d.is_first = bool(order) and order[0] == d.pk  # type: ignore[attr-defined]
        d.is_last = bool(order) and order[-1] == d.pk  # type: ignore[attr-defined]
        d.body_html = content.safe_body_html(d.bulletin.body)  # type: ignore[attr-defined]
    return render(
        request,
        "bulletins/inbox.html",
        {
            "form": form,
            "deliveries": page,
            "items": items,
            "query": _query_without_page(request),
            "normal": Priority.NORMAL,
            "can_accept": {DeliveryStatus.RECEIVED, DeliveryStatus.DECLINED},
            "can_decline": {DeliveryStatus.RECEIVED, DeliveryStatus.ACCEPTED},
        },
    )


def _delivery(request: HttpRequest, delivery_id: int) -> Delivery:
    delivery = selectors.delivery_for(request.user, delivery_id)
    if delivery is None:
        raise Http404
    return delivery


def _inbox_next(request: HttpRequest) -> str:
    return safe_next(request, reverse("bulletins:inbox"))


def _refuse_undecidable(request: HttpRequest, delivery: Delivery) -> HttpResponse | None:
    if _may_decide(request.user, delivery.commune):
        return None
    messages.error(request, _("You are not allowed to decide on this commune's inbox."))
    return redirect(_inbox_next(request))


@login_required
@require_POST
def inbox_accept(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = _delivery(request, delivery_id)
    refused = _refuse_undecidable(request, delivery)
    if refused is not None:
        return refused
    form = forms.AcceptForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for e in form.errors.get("air_from", [])))
        return redirect(_inbox_next(request))
    try:
        services.delivery_accept(
            actor=policy.acting_user(request),
            delivery=delivery,
            air_from=form.cleaned_data["air_from"],
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request, _("“%(title)s” accepted.") % {"title": delivery.bulletin.title[:100]}
        )
    return redirect(_inbox_next(request))


@login_required
@require_POST
def inbox_decline(request: HttpRequest, delivery_id: int) -> HttpResponse:
    delivery = _delivery(request, delivery_id)
    refused = _refuse_undecidable(request, delivery)
    if refused is not None:
        return refused
    try:
        services.delivery_decline(
            actor=policy.acting_user(request),
            delivery=delivery,
            reason=request.POST.get("reason", "")[:500],
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(
            request, _("“%(title)s” declined.") % {"title": delivery.bulletin.title[:100]}
        )
    return redirect(_inbox_next(request))


@login_required
@require_POST
def inbox_adapt(request: HttpRequest, delivery_id: int) -> HttpResponse:
    """A local draft copy to edit; the person goes straight to it."""
    delivery = _delivery(request, delivery_id)
    refused = _refuse_undecidable(request, delivery)
    if refused is not None:
        return refused
    try:
        copy = services.delivery_adapt(actor=policy.acting_user(request), delivery=delivery)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect(_inbox_next(request))
    messages.success(request, _("A local copy was made. Adapt it and submit it for approval."))
    return redirect("bulletins:edit", pk=copy.pk)


@login_required
@require_POST
def inbox_move(request: HttpRequest, delivery_id: int, direction: str) -> HttpResponse:
    """Move a priority item up or down in its commune's airing order."""
    if direction not in ("up", "down"):
        raise Http404
    delivery = _delivery(request, delivery_id)
    refused = _refuse_undecidable(request, delivery)
    if refused is not None:
        return refused
    ids = list(
        selectors.inbox(request.user, commune=delivery.commune)
        .filter(priority=Priority.PRIORITY)
        .values_list("pk", flat=True)
    )
    if delivery.pk not in ids:
        messages.error(request, _("Only priority items can be put in order."))
        return redirect(_inbox_next(request))
    i = ids.index(delivery.pk)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
        try:
            services.delivery_reorder(
                actor=policy.acting_user(request), commune=delivery.commune, delivery_ids=ids
            )
        except ServiceError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Order saved."))
    return redirect(_inbox_next(request))


# --- Editorial settings ---------------------------------------------------------------------


@login_required
def editorial_settings(request: HttpRequest, code: str) -> HttpResponse:
    """A unit's approval rules (unit administrators); the units below inherit them."""
    unit = scoped_unit(request, code, Action.MANAGE_USERS)
    current = services.editorial_settings_for(unit)
    form = forms.EditorialSettingsForm(
        request.POST or None,
        initial={"four_eyes": current.four_eyes, "own_unit_approval": current.own_unit_approval},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.editorial_settings_update(
                actor=policy.acting_user(request), unit=unit, **form.cleaned_data
            )
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Editorial settings saved."))
            return redirect("bulletins:settings", code=unit.code)
    inherited_from = current.unit if current.pk is not None and current.unit_id != unit.pk else None
    return render(
        request,
        "bulletins/settings.html",
        {
            "unit": unit,
            "form": form,
            "own": current.pk is not None and current.unit_id == unit.pk,
            "inherited_from": inherited_from,
        },
        status=_form_status(form),
    )


# --- Categories and languages (system administrators) ---------------------------------------

CONFIG_KINDS: dict[str, Any] = {
    "category": (Category, config_services.category_create, config_services.category_update),
    "language": (Language, config_services.language_create, config_services.language_update),
}


def _require_system_admin(request: HttpRequest) -> None:
    if not policy.is_system_admin(request.user):
        raise Http404


def _config_context(
    add_forms: dict[str, forms.ConfigItemForm] | None = None,
) -> dict[str, Any]:
    add_forms = add_forms or {}

    def add_form(kind: str) -> forms.ConfigItemForm:
        return add_forms.get(kind) or forms.ConfigItemForm(prefix=kind, initial={"position": 0})

    return {
        "sections": [
            (
                "category",
                _("Categories"),
                Category.objects.order_by("position", "name"),
                add_form("category"),
            ),
            (
                "language",
                _("Languages"),
                Language.objects.order_by("position", "name"),
                add_form("language"),
            ),
        ]
    }


@login_required
def config(request: HttpRequest) -> HttpResponse:
    _require_system_admin(request)
    return render(request, "bulletins/config.html", _config_context())


@login_required
@require_POST
def config_add(request: HttpRequest, kind: str) -> HttpResponse:
    _require_system_admin(request)
    if kind not in CONFIG_KINDS:
        raise Http404
    _model, create, _update = CONFIG_KINDS[kind]
    form = forms.ConfigItemForm(request.POST, prefix=kind)
    if form.is_valid():
        try:
            item = create(
                actor=policy.acting_user(request),
                code=form.cleaned_data["code"],
                name=form.cleaned_data["name"],
                position=form.cleaned_data["position"],
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("“%(name)s” added.") % {"name": item.name})
            return redirect("bulletins:config")
    return render(request, "bulletins/config.html", _config_context({kind: form}), status=400)


@login_required
@require_POST
def config_update(request: HttpRequest, kind: str, item_id: int) -> HttpResponse:
    _require_system_admin(request)
    if kind not in CONFIG_KINDS:
        raise Http404
    model, _create, update = CONFIG_KINDS[kind]
    item = model.objects.filter(pk=item_id).first()
    if item is None:
        raise Http404
    form = forms.ConfigItemForm(request.POST)
    if not form.is_valid():
        problems = [
            f"{form.fields[f].label}: {e[0]}" for f, e in form.errors.items() if f in form.fields
        ]
        messages.error(request, " ".join(problems))
        return redirect("bulletins:config")
    try:
        update(
            actor=policy.acting_user(request),
            **{kind: item},
            name=form.cleaned_data["name"],
            position=form.cleaned_data["position"],
            is_active=form.cleaned_data["is_active"],
        )
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("“%(name)s” saved.") % {"name": form.cleaned_data["name"]})
    return redirect("bulletins:config")
