"""The handlers' pages: the feedback list, one feedback and its workflow, assisted intake,
routing rules, the holiday list and the statistics.

Thin, like the bulletin pages: a selector finds the feedback (404 when out of scope, exactly like a
missing code), a form parses input, one service acts. A ServiceError is shown at the form it
concerns with HTTP 400, a ConflictError with 409; nothing changed in either case.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from thongtincoso.accounts import policy
from thongtincoso.accounts.models import User
from thongtincoso.accounts.roles import Action
from thongtincoso.core.csvsafe import safe_row
from thongtincoso.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
)
from thongtincoso.units.models import Unit, UnitKind
from thongtincoso.web.shortcuts import form_error

from . import calendar, selectors, services, staff_forms, stats
from .models import (
    OPEN_STATUSES,
    Answer,
    AnswerState,
    Category,
    Contact,
    Event,
    Feedback,
    Holiday,
    HolidayKind,
    RoutingRule,
    Status,
    UnitSettings,
)

PAGE_SIZE = 50


# --- Helpers --------------------------------------------------------------------------------


def _feedback(request: HttpRequest, code: str) -> Feedback:
    feedback = selectors.feedback_for(request.user, code)
    if feedback is None:
        raise Http404
    return feedback


def _pk(value: str | None) -> int:
    """A primary key sent in a form; anything else is a row that does not exist (404), never a
    database error."""
    text = (value or "").strip()
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise Http404
    return int(text)


def _staff_only(request: HttpRequest) -> None:
    # The pages are for people who handle, approve or administer feedback; to anyone else they
    # do not exist.
    if not selectors.may_see_feedback_menu(request.user):
        raise Http404


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@dataclass
class Deadline:
    """How a due date reads today: working days left (>= 0) or overdue by (>= 0)."""

    left: int
    overdue: bool
    due: dt.date | None = None

    @property
    def overdue_by(self) -> int:
        return -self.left

    @property
    def label(self) -> str:
        """Which wording _deadline.html uses: "overdue_by", "overdue_on" (past the due date by
        no working day yet, e.g. the weekend after a Friday), "due_today" or "left"."""
        if self.overdue:
            return "overdue_by" if self.overdue_by > 0 else "overdue_on"
        return "due_today" if self.left == 0 else "left"


def deadlines(rows: list[Feedback], today: dt.date) -> dict[int, Deadline]:
    """Working days to each open feedback's due date, with one holiday query for the whole page."""
    open_rows = [f for f in rows if f.status in OPEN_STATUSES and f.duplicate_of_id is None]
    if not open_rows:
        return {}
    dates = [f.due_date for f in open_rows] + [today]
    off, extra = calendar.calendar_exceptions(min(dates), max(dates))

    def working(day: dt.date) -> bool:
        return day in extra or (day.weekday() < 5 and day not in off)

    out = {}
    for f in open_rows:
        low, high = sorted((today, f.due_date))
        count = sum(
            1 for i in range(1, (high - low).days + 1) if working(low + dt.timedelta(days=i))
        )
        left = count if f.due_date >= today else -count
        # Due today, or due on a day off just passed, is not yet overdue in working days;
        # after the due date it is, even by zero working days (a weekend after a Friday).
        out[f.pk] = Deadline(left=left, overdue=f.due_date < today, due=f.due_date)
    return out


# --- List -----------------------------------------------------------------------------------


@login_required
@require_GET
def staff_list(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    form = staff_forms.FeedbackFilterForm(
        request.GET or None, may_approve=policy.may_anywhere(request.user, Action.APPROVE)
    )
    data: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()  # a bad value is reported; the other filters still apply
        data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    # Not a status of the feedback but of its answer: the approvers' to-do list.
    awaiting = data.get("status") == staff_forms.AWAITING_APPROVAL
    if awaiting:
        del data["status"]
    rows = selectors.feedback_list(request.user, selectors.FeedbackFilters(**data))
    if awaiting:
        rows = rows.filter(answer__state=AnswerState.SUBMITTED)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    items = list(page.object_list)
    due = deadlines(items, timezone.localdate())
    context = {
        "form": form,
        "page": page,
        "rows": [(f, due.get(f.pk)) for f in items],
        "query": _query_without_page(request),
        "may_record": may_record(request.user),
        "map": feedback_map(items, due),
    }
    return render(request, "feedback/staff/list.html", context)


MAP_BOX = (800, 420)


def feedback_map(items: list[Feedback], due: dict[int, Any]) -> dict[str, Any]:
    """Dots for the listed feedback that has a map point, coloured by what it needs."""
    from thongtincoso.web.svgmap import Box, project

    placed = [f for f in items if f.lat is not None and f.long is not None]
    points = [(float(f.lat), float(f.long)) for f in placed]  # type: ignore[arg-type]
    dots = []
    for f, (x, y) in zip(placed, project(points, Box(*MAP_BOX)), strict=True):
        deadline = due.get(f.pk)
        if deadline is not None and deadline.overdue:
            kind = "overdue"
        elif f.status in OPEN_STATUSES:
            kind = "open"
        elif f.status == Status.REJECTED:
            kind = "other"
        else:
            kind = "answered"
        dots.append({"code": f.code, "x": x, "y": y, "kind": kind, "label": f.get_status_display()})
    return {"dots": dots, "width": MAP_BOX[0], "height": MAP_BOX[1]}


# --- One feedback ---------------------------------------------------------------------------


def _transfer_targets(feedback: Feedback) -> list[Unit]:
    """The nation, the province and the province's communes: where a transfer usually goes."""
    chain = list(feedback.unit.ancestors(include_self=True).filter(valid_to__isnull=True))
    province = next((u for u in chain if u.kind == UnitKind.PROVINCE), None)
    nation = next((u for u in chain if u.kind == UnitKind.NATION), None)
    out: list[Unit] = [u for u in (nation, province) if u is not None]
    if province is not None:
        out += list(
            Unit.objects.current().filter(parent=province, kind=UnitKind.COMMUNE).order_by("name")
        )
    return [u for u in out if u.pk != feedback.unit_id]


@dataclass
class MergeOption:
    """A possible duplicate on the detail page, with the merges that can work (see
    services.feedback_merge): this one into it, and it into this one."""

    other: Feedback
    metres: int | None
    into_other: bool
    into_this: bool


def _merge_options(user: Any, feedback: Feedback) -> list[MergeOption]:
    # A merged duplicate is handled on its master's page; it offers no merge of its own.
    if feedback.duplicate_of_id is not None:
        return []
    candidates = [
        (other, metres)
        for other, metres in services.possible_duplicates(feedback)
        if policy.may(user, Action.HANDLE_FEEDBACK, other)
    ]
    if not candidates:
        return []
    # feedback_merge refuses to merge away a feedback that others are merged into.
    masters = set(
        Feedback.objects.filter(
            duplicate_of_id__in=[feedback.pk, *(o.pk for o, _m in candidates)]
        ).values_list("duplicate_of_id", flat=True)
    )
    this_open = feedback.status in OPEN_STATUSES and feedback.pk not in masters
    options = []
    for other, metres in candidates:
        option = MergeOption(
            other=other,
            metres=metres,
            # The everyday case: a new report of something already being handled.
            into_other=this_open and other.status != Status.REJECTED,
            into_this=other.status in OPEN_STATUSES
            and other.pk not in masters
            and feedback.status != Status.REJECTED,
        )
        if option.into_other or option.into_this:
            options.append(option)
    return options


def _detail_context(
    request: HttpRequest,
    feedback: Feedback,
    *,
    error: tuple[str, str] | None = None,
    values: dict[str, str] | None = None,
    contact: Contact | None = None,
    contact_shown: bool = False,
) -> dict[str, Any]:
    """`error`: (action, message) of a refused action, shown at its form and atop the page;
    `values`: what was typed in that form, given back to that form only."""
    user = request.user
    may_handle = policy.may(user, Action.HANDLE_FEEDBACK, feedback)
    # A merged duplicate shares its master's status and answer: the work happens there.
    may_handle_alone = may_handle and feedback.duplicate_of_id is None
    may_approve = policy.may(user, Action.APPROVE, feedback)
    answer = (
        Answer.objects.filter(feedback=feedback).select_related("author", "approved_by").first()
    )
    is_open = feedback.status in OPEN_STATUSES
    today = timezone.localdate()
    answer_editable = (
        may_handle_alone and is_open and (answer is None or answer.state != AnswerState.SUBMITTED)
    )
    categories = {a.code: a for a in feedback.category.attributes.all()}
    attributes = [
        (
            categories[code].description if code in categories else code,
            ", ".join(map(str, value)) if isinstance(value, list) else str(value),
        )
        for code, value in (feedback.attributes or {}).items()
    ]
    flags = {
        "may_approve": may_approve
        and feedback.duplicate_of_id is None
        and answer is not None
        and answer.state == AnswerState.SUBMITTED,
        "may_accept": may_handle_alone and feedback.status in (Status.RECEIVED, Status.TRANSFERRED),
        "may_start": may_handle_alone
        and feedback.status in (Status.ACCEPTED, Status.REOPENED, Status.TRANSFERRED),
        # Assign, transfer, reject.
        "may_route": may_handle_alone and is_open,
        "may_close": may_handle_alone and feedback.status == Status.ANSWERED,
        # Making a bulletin is an editor's act in the unit (answer_to_bulletin checks it too).
        "may_bulletin": may_handle_alone
        and policy.may(user, Action.EDIT, feedback.unit)
        and answer is not None
        and bool(answer.published_text)
        and not feedback.bulletin_id,
    }
    action, message = error or ("", "")
    return {
        "feedback": feedback,
        "deadline": deadlines([feedback], today).get(feedback.pk),
        "attributes": attributes,
        "photos": list(feedback.photos.all()),
        "events": Event.objects.filter(feedback=feedback).select_related(
            "actor", "from_unit", "to_unit"
        ),
        "answer": answer,
        "may_handle": may_handle,
        "may_handle_alone": may_handle_alone,
        **flags,
        "show_actions": any(flags[k] for k in flags if k != "may_approve"),
        "is_open": is_open,
        "answer_editable": answer_editable,
        "needs_approval": services.answers_need_approval(feedback.unit),
        "handlers": services.handlers_of(feedback.unit) if flags["may_route"] else [],
        "transfer_targets": _transfer_targets(feedback) if flags["may_route"] else [],
        "merge_options": _merge_options(user, feedback) if may_handle else [],
        "merged": feedback.duplicates.all() if may_handle else [],
        "may_see_contact": services.may_see_contact(user, feedback),
        "contact": contact,
        "contact_shown": contact_shown,
        "error_action": action,
        "error_message": message,
        "errors": {action: message} if action else {},
        "values": {action: values or {}} if action else {},
    }


@login_required
@require_GET
def staff_detail(request: HttpRequest, code: str) -> HttpResponse:
    feedback = _feedback(request, code)
    if feedback.code != code:
        return redirect("feedback:staff_detail", feedback.code)
    return render(request, "feedback/staff/detail.html", _detail_context(request, feedback))


@login_required
@require_POST
def staff_contact(request: HttpRequest, code: str) -> HttpResponse:
    """The sender's contact details, on request; services.contact_for audits each look."""
    feedback = _feedback(request, code)
    try:
        contact = services.contact_for(actor=policy.acting_user(request), feedback=feedback)
    except NotFoundError as exc:
        raise Http404 from exc
    context = _detail_context(request, feedback, contact=contact, contact_shown=True)
    response = render(request, "feedback/staff/detail.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _user_from(request: HttpRequest, feedback: Feedback) -> User | None:
    pk = request.POST.get("assignee", "")
    if not pk:
        return None
    user = next((u for u in services.handlers_of(feedback.unit) if str(u.pk) == pk), None)
    if user is None:
        raise ServiceError(_("Choose one of the unit's feedback officers."), field="assignee")
    return user


def _unit_from(code: str, field: str) -> Unit:
    unit = Unit.objects.current().filter(code=code.strip()).first() if code.strip() else None
    if unit is None:
        raise ServiceError(_("No unit in force has this code."), field=field)
    return unit


def _act(request: HttpRequest, feedback: Feedback, action: str) -> tuple[str, str | None]:
    """Run one action; (success message, address to go to, or None for the detail page)."""
    actor = policy.acting_user(request)
    post = request.POST
    if action == "accept":
        services.feedback_accept(actor=actor, feedback=feedback)
        return _("Accepted: the feedback is now public, without the sender's details."), None
    if action == "start":
        services.feedback_start(actor=actor, feedback=feedback, note=post.get("note", ""))
        return _("Marked as in progress."), None
    if action == "assign":
        assignee = _user_from(request, feedback)
        services.feedback_assign(actor=actor, feedback=feedback, assignee=assignee)
        return _("Handler changed."), None
    if action == "transfer":
        to_unit = _unit_from(post.get("to_unit", ""), "to_unit")
        services.feedback_transfer(
            actor=actor, feedback=feedback, to_unit=to_unit, reason=post.get("reason", "")
        )
        # The feedback may now be out of this user's scope: back to the list.
        return _("Transferred to %(unit)s.") % {"unit": to_unit.name}, reverse(
            "feedback:staff_list"
        )
    if action == "reject":
        # Its own field name, so a refused reject never refills the transfer's reason.
        reason = post.get("reject_reason", post.get("reason", ""))
        services.feedback_reject(actor=actor, feedback=feedback, reason=reason)
        return _("Rejected as out of scope."), None
    if action == "answer":
        services.answer_save(actor=actor, feedback=feedback, text=post.get("text", ""))
        if post.get("do") != "publish":
            return _("Answer saved as a draft."), None
        answer = services.answer_submit(actor=actor, feedback=feedback)
        if answer.state == AnswerState.SUBMITTED:
            return _("The answer was sent to the approvers."), None
        return _("Answer published."), None
    if action == "approve":
        services.answer_approve(actor=actor, feedback=feedback)
        return _("Answer approved and published."), None
    if action == "return":
        services.answer_return(actor=actor, feedback=feedback, comment=post.get("comment", ""))
        return _("Answer returned to its author."), None
    if action == "close":
        services.feedback_close(actor=actor, feedback=feedback)
        return _("Closed."), None
    if action == "bulletin":
        bulletin = services.answer_to_bulletin(actor=actor, feedback=feedback)
        return _("A bulletin draft was made from the answer."), reverse(
            "bulletins:edit", args=[bulletin.pk]
        )
    if action == "redact_text":
        services.feedback_redact_text(
            actor=actor, feedback=feedback, description=post.get("description", "")
        )
        return _("The description was replaced."), None
    if action == "redact_photo":
        # Only those who may open the photos may judge what to blank out (see staff_photo).
        if not services.may_see_contact(request.user, feedback):
            raise Http404
        photo = feedback.photos.filter(pk=_pk(post.get("photo"))).first()
        if photo is None:
            raise Http404
        services.feedback_redact_photo(actor=actor, photo=photo)
        return _("The photo was blanked out."), None
    if action == "merge":
        # Either direction: `into` merges this feedback into another (a new report of something
        # already handled), `duplicate` merges another one into this.
        if post.get("into"):
            into = selectors.feedback_for(request.user, post["into"])
            if into is None:
                raise Http404
            services.feedback_merge(actor=actor, duplicate=feedback, into=into)
            return _("Merged into %(code)s: it is handled there.") % {"code": into.code}, None
        duplicate = selectors.feedback_for(request.user, post.get("duplicate", ""))
        if duplicate is None:
            raise Http404
        services.feedback_merge(actor=actor, duplicate=duplicate, into=feedback)
        return _("%(code)s was merged into this feedback.") % {"code": duplicate.code}, None
    raise Http404


ACTIONS = frozenset(
    {
        "accept",
        "start",
        "assign",
        "transfer",
        "reject",
        "answer",
        "approve",
        "return",
        "close",
        "bulletin",
        "redact_text",
        "redact_photo",
        "merge",
    }
)


@login_required
@require_POST
def staff_action(request: HttpRequest, code: str, action: str) -> HttpResponse:
    """One workflow step on one feedback (see ACTIONS)."""
    if action not in ACTIONS:
        raise Http404
    feedback = _feedback(request, code)
    detail_url = reverse("feedback:staff_detail", args=[feedback.code])
    try:
        done, next_url = _act(request, feedback, action)
    except NotFoundError as exc:
        raise Http404 from exc
    except ServiceError as exc:
        status = (
            409
            if isinstance(exc, ConflictError)
            else 403
            if isinstance(exc, PermissionDeniedError)
            else 400
        )
        # Shown atop the page and at the form it concerns; what the person typed is kept, in
        # that form only.
        values = {k: str(v) for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
        context = _detail_context(
            request, feedback, error=(action, str(exc.message)), values=values
        )
        context["error_field"] = exc.field or ""
        return render(request, "feedback/staff/detail.html", context, status=status)
    messages.success(request, done)
    return redirect(next_url or detail_url)


@login_required
@require_GET
def staff_photo(request: HttpRequest, code: str, pk: int) -> HttpResponseBase:
    """A photo of a feedback, for its handler only (the files are never under a public URL).

    Photos are the sender's data (faces, number plates, the inside of a home): they follow the
    contact details' rule, services.may_see_contact, and every look is audited like theirs.
    """
    feedback = _feedback(request, code)
    try:
        photo = services.photo_for(actor=policy.acting_user(request), feedback=feedback, pk=pk)
        stream = photo.file.open("rb")
    except (NotFoundError, FileNotFoundError) as exc:
        raise Http404 from exc
    response = FileResponse(stream, content_type=photo.content_type)
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Disposition"] = (
        f'inline; filename="{feedback.code}-{photo.position}.{photo.extension}"'
    )
    return response


# --- Assisted intake ------------------------------------------------------------------------


def _intake_communes(user: Any) -> QuerySet[Unit]:
    """Communes in force where the user may record feedback (services.assisted_intake_allowed)."""
    base = Unit.objects.current().filter(kind=UnitKind.COMMUNE)
    scope = Q(pk__in=[])
    for action in (Action.HANDLE_FEEDBACK, Action.EDIT, Action.MANAGE_USERS):
        scope |= Q(pk__in=policy.restrict(base, user, action).values("pk"))
    return base.filter(scope).order_by("path")


def may_record(user: Any) -> bool:
    """May the user open "Record feedback" (staff_new)? The menu shows the link only then."""
    return _intake_communes(user).exists()


def _attributes_from(request: HttpRequest, category_code: str) -> dict[str, Any]:
    """Answers to the chosen category's questions: fields named attribute-<category>-<code>."""
    category = Category.objects.filter(code=category_code).first()
    if category is None:
        return {}
    out: dict[str, Any] = {}
    for attribute in category.attributes.all():
        values = [
            v for v in request.POST.getlist(f"attribute-{category.code}-{attribute.code}") if v
        ]
        if values:
            out[attribute.code] = values if len(values) > 1 else values[0]
    return out


@login_required
def staff_new(request: HttpRequest) -> HttpResponse:
    """Feedback received by phone or in person, written down by staff for the sender."""
    communes = list(_intake_communes(request.user))
    if not communes:
        raise Http404
    choices = [(u.code, f"{u.name} ({u.code})") for u in communes]
    form = staff_forms.AssistedIntakeForm(request.POST or None, communes=choices)
    status = 200
    attribute_error: tuple[str, str] | None = None
    if request.method == "POST":
        if form.is_valid():
            d = form.cleaned_data
            submission = services.Submission(
                category=d["category"],
                commune=d["commune"],
                description=d["description"],
                address=d["address"],
                lat=d["lat"],
                long=d["long"],
                attributes=_attributes_from(request, d["category"]),
                photos=[
                    services.PhotoUpload(stream=f, name=f.name or "")
                    for f in request.FILES.getlist("photos")
                ],
                name=d["name"],
                phone=d["phone"],
                email=d["email"],
                # The staff member recording it took the sender's consent.
                consent=True,
                source=d["source"],
            )
            try:
                feedback = services.feedback_record_assisted(
                    actor=policy.acting_user(request), submission=submission
                )
            except ServiceError as exc:
                field = exc.field or ""
                if field.startswith("attribute["):
                    # Shown at the chosen category's question it concerns.
                    attribute_error = (field, str(exc.message))
                else:
                    form_error(form, exc)
            else:
                messages.success(
                    request,
                    _("Recorded. Give the sender the tracking code %(code)s.")
                    % {"code": feedback.code},
                )
                return redirect("feedback:staff_detail", feedback.code)
        status = 400
    return render(
        request,
        "feedback/staff/new.html",
        {
            "form": form,
            "questions": _intake_questions(request, form, attribute_error),
            # Browsers never send files back: say so when the form comes back with an error.
            "photos_lost": request.method == "POST" and bool(request.FILES.getlist("photos")),
        },
        status=status,
    )


def _intake_questions(
    request: HttpRequest,
    form: staff_forms.AssistedIntakeForm,
    error: tuple[str, str] | None,
) -> list[tuple[Category, list[dict[str, Any]]]]:
    """Every category's questions with what was answered so far, and the error of the chosen
    category's question (`error`: ("attribute[<code>]", message))."""
    chosen_category = form["category"].value() if form.is_bound else ""
    out = []
    for category in Category.objects.filter(is_active=True).prefetch_related("attributes"):
        rows = []
        for attribute in category.attributes.all():
            name = f"attribute-{category.code}-{attribute.code}"
            given = [v for v in request.POST.getlist(name) if v] if form.is_bound else []
            rows.append(
                {
                    "attribute": attribute,
                    "name": name,
                    "id": f"attr-{category.code}-{attribute.code}",
                    "chosen": given,
                    "value": given[0] if given else "",
                    "error": error[1]
                    if error
                    and category.code == chosen_category
                    and error[0] == f"attribute[{attribute.code}]"
                    else "",
                }
            )
        if rows:
            out.append((category, rows))
    return out


# --- Routing rules and unit settings ---------------------------------------------------------


def _routing_context(
    request: HttpRequest,
    *,
    rule_form: staff_forms.RoutingRuleForm | None = None,
    settings_form: staff_forms.UnitSettingsForm | None = None,
) -> dict[str, Any]:
    user = request.user
    may_admin = policy.may_anywhere(user, Action.MANAGE_USERS)
    return {
        "rules": policy.restrict(RoutingRule.objects.all(), user, Action.MANAGE_USERS)
        .select_related("category", "area", "handler_unit")
        .order_by("area__path", "category__position", "category__name"),
        "settings_rows": policy.restrict(UnitSettings.objects.all(), user, Action.MANAGE_USERS)
        .select_related("unit")
        .order_by("unit__path"),
        "may_admin": may_admin,
        "may_record": may_record(user),
        "rule_form": rule_form or staff_forms.RoutingRuleForm(),
        "settings_form": settings_form or staff_forms.UnitSettingsForm(),
    }


@login_required
def staff_routing(request: HttpRequest) -> HttpResponse:
    """Where feedback goes (rules in the user's administration scope); POST adds or changes one."""
    _staff_only(request)
    if request.method != "POST":
        return render(request, "feedback/staff/routing.html", _routing_context(request))
    form = staff_forms.RoutingRuleForm(request.POST)
    if form.is_valid():
        d = form.cleaned_data
        try:
            area = _scoped_unit(request, d["area"], "area")
            handler_unit = _unit_from(d["handler_unit"], "handler_unit")
            category = (
                Category.objects.filter(code=d["category"]).first() if d["category"] else None
            )
            services.routing_rule_save(
                actor=policy.acting_user(request),
                area=area,
                handler_unit=handler_unit,
                category=category,
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Routing rule saved."))
            return redirect("feedback:staff_routing")
    return render(
        request,
        "feedback/staff/routing.html",
        _routing_context(request, rule_form=form),
        status=400,
    )


def _scoped_unit(request: HttpRequest, code: str, field: str) -> Unit:
    """A unit the user administers; otherwise the same answer as for a missing code."""
    unit = (
        policy.restrict(Unit.objects.current(), request.user, Action.MANAGE_USERS)
        .filter(code=code.strip())
        .first()
    )
    if unit is None:
        raise NotFoundError(_("No unit you administer has this code."), field=field)
    return unit


@login_required
@require_POST
def staff_routing_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = (
        policy.restrict(RoutingRule.objects.all(), request.user, Action.MANAGE_USERS)
        .select_related("category", "area")
        .filter(pk=pk)
        .first()
    )
    if rule is None:
        raise Http404
    try:
        services.routing_rule_delete(actor=policy.acting_user(request), rule=rule)
    except NotFoundError as exc:
        raise Http404 from exc
    messages.success(request, _("Routing rule removed."))
    return redirect("feedback:staff_routing")


@login_required
@require_POST
def staff_unit_settings(request: HttpRequest) -> HttpResponse:
    """Whether a unit's answers need a leader's approval (unit administrators)."""
    _staff_only(request)
    form = staff_forms.UnitSettingsForm(request.POST)
    if form.is_valid():
        try:
            unit = _scoped_unit(request, form.cleaned_data["unit"], "unit")
            services.unit_settings_update(
                actor=policy.acting_user(request),
                unit=unit,
                answers_need_approval=form.cleaned_data["answers_need_approval"],
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Feedback settings saved."))
            return redirect("feedback:staff_routing")
    return render(
        request,
        "feedback/staff/routing.html",
        _routing_context(request, settings_form=form),
        status=400,
    )


# --- Holidays -------------------------------------------------------------------------------


def _year(request: HttpRequest) -> int:
    try:
        year = int(request.GET.get("year") or request.POST.get("year") or 0)
    except ValueError:
        year = 0
    if not calendar.MIN_YEAR <= year <= calendar.MAX_YEAR:
        year = timezone.localdate().year
    return year


def _holidays_context(
    request: HttpRequest, year: int, *, form: staff_forms.HolidayForm | None = None, edit: int = 0
) -> dict[str, Any]:
    calendar.ensure_years([year])
    return {
        "year": year,
        "years": [year - 1, year + 1],
        "holidays": Holiday.objects.filter(date__year=year),
        "may_edit": calendar.may_edit_holidays(request.user),
        "may_record": may_record(request.user),
        "form": form or staff_forms.HolidayForm(initial={"kind": HolidayKind.HOLIDAY}),
        "edit": edit,
    }


@login_required
def staff_holidays(request: HttpRequest) -> HttpResponse:
    """The year's days off and make-up working days; POST adds one, or changes `holiday`."""
    _staff_only(request)
    year = _year(request)
    if request.method != "POST":
        return render(request, "feedback/staff/holidays.html", _holidays_context(request, year))
    form = staff_forms.HolidayForm(request.POST)
    holiday = None
    if request.POST.get("holiday"):
        holiday = Holiday.objects.filter(pk=_pk(request.POST["holiday"])).first()
        if holiday is None:
            raise Http404
    status = 400
    if form.is_valid():
        try:
            saved = calendar.holiday_save(
                actor=policy.acting_user(request),
                date=form.cleaned_data["date"],
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"],
                holiday=holiday,
            )
        except PermissionDeniedError as exc:
            raise PermissionDenied(str(exc.message)) from exc
        except NotFoundError as exc:
            raise Http404 from exc
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Holiday list saved."))
            return redirect(f"{reverse('feedback:staff_holidays')}?year={saved.date.year}")
    context = _holidays_context(request, year, form=form, edit=holiday.pk if holiday else 0)
    return render(request, "feedback/staff/holidays.html", context, status=status)


@login_required
@require_POST
def staff_holiday_delete(request: HttpRequest, pk: int) -> HttpResponse:
    _staff_only(request)
    holiday = Holiday.objects.filter(pk=pk).first()
    if holiday is None:
        raise Http404
    try:
        calendar.holiday_delete(actor=policy.acting_user(request), holiday=holiday)
    except PermissionDeniedError as exc:
        raise PermissionDenied(str(exc.message)) from exc
    messages.success(request, _("Removed from the holiday list."))
    return redirect(f"{reverse('feedback:staff_holidays')}?year={holiday.date.year}")


# --- Statistics -----------------------------------------------------------------------------


def _stats_for(request: HttpRequest) -> tuple[staff_forms.StatsFilterForm, stats.Stats]:
    form = staff_forms.StatsFilterForm(request.GET or None)
    data: dict[str, Any] = {}
    if form.is_bound and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if v not in (None, "")}
    return form, stats.feedback_stats(request.user, stats.StatsFilters(**data))


@login_required
@require_GET
def staff_stats(request: HttpRequest) -> HttpResponse:
    """Counts and answering times in the user's scope; aggregates only."""
    if not policy.may_anywhere(request.user, Action.VIEW):
        raise Http404
    form, figures = _stats_for(request)
    return render(
        request,
        "feedback/staff/stats.html",
        {
            "form": form,
            "stats": figures,
            "month_chart": stats.month_chart(figures.months),
            "unit_chart": stats.unit_chart(figures.units),
            "query": request.GET.urlencode(),
            "may_record": may_record(request.user),
        },
        status=400 if form.is_bound and form.errors else 200,
    )


@login_required
@require_GET
def staff_stats_csv(request: HttpRequest) -> HttpResponse:
    if not policy.may_anywhere(request.user, Action.VIEW):
        raise Http404
    form, figures = _stats_for(request)
    if form.is_bound and form.errors:
        # A download link gone wrong: say why in plain words rather than hand over a file.
        lines = [str(e) for errors in form.errors.values() for e in errors]
        return HttpResponse("\n".join(lines), status=400, content_type="text/plain; charset=utf-8")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        [
            _("Unit code"),
            _("Responsible unit"),
            _("Category code"),
            _("Category"),
            _("Received"),
            _("Answered"),
            _("Open"),
            _("Overdue"),
            _("Median days to answer"),
        ]
    )
    for row in stats.csv_rows(figures, total_label=_("Total")):
        writer.writerow(safe_row(row))
    # A byte-order mark, so Excel reads the file as UTF-8 and shows Vietnamese correctly.
    response = HttpResponse("\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"phan-anh-{figures.date_from.isoformat()}-{figures.date_to.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
