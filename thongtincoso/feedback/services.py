"""Citizen feedback: intake, routing, the handling workflow, answers, privacy.

Every state change runs in one transaction with its `Event` (the history the sender sees) and its
audit record. Audit records name the feedback by tracking code and never carry the sender's
personal data or the text they wrote (unit admins read the audit log).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from thongtincoso.accounts import policy
from thongtincoso.accounts.models import RoleAssignment, User
from thongtincoso.accounts.roles import ROLE_ACTIONS, Action, Role
from thongtincoso.audit.services import audit_record
from thongtincoso.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
)
from thongtincoso.notifications.services import notify
from thongtincoso.units.models import Unit, UnitKind

from .models import (
    DESCRIPTION_MAX,
    MAX_PHOTOS,
    OPEN_STATUSES,
    Answer,
    AnswerState,
    AttributeType,
    Category,
    Contact,
    Event,
    EventKind,
    Feedback,
    Open311Client,
    Photo,
    RoutingRule,
    Source,
    Status,
    UnitSettings,
)

if TYPE_CHECKING:
    from thongtincoso.bulletins.models import Bulletin

log = logging.getLogger(__name__)

# Tracking codes: no 0/O, 1/I/L, so they can be read out over the phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8
# Mainland Việt Nam and its islands, generously: a point outside is a typo (or lat/long swapped).
LAT_RANGE = (Decimal("8.0"), Decimal("23.5"))
LONG_RANGE = (Decimal("102.0"), Decimal("117.9"))
REASON_MAX = 500
NAME_MAX = 200
ADDRESS_MAX = 300
ANSWER_MAX = 8000

HANDLER_ROLES = frozenset(r for r, acts in ROLE_ACTIONS.items() if Action.HANDLE_FEEDBACK in acts)
APPROVER_ROLES = frozenset(r for r, acts in ROLE_ACTIONS.items() if Action.APPROVE in acts)
ADMIN_ROLES = frozenset({Role.UNIT_ADMIN, Role.SYSTEM_ADMIN})


# --- Intake ------------------------------------------------------------------------------------


@dataclass
class PhotoUpload:
    stream: IO[bytes]
    name: str


@dataclass
class Submission:
    """What a sender (or staff on their behalf) gives; validated by `feedback_submit`."""

    category: str
    commune: str
    description: str
    address: str = ""
    lat: Any = None
    long: Any = None
    attributes: dict[str, Any] = field(default_factory=dict)
    photos: Sequence[PhotoUpload] = ()
    keep_location: bool = False
    name: str = ""
    phone: str = ""
    email: str = ""
    consent: bool = False
    source: str = Source.WEB
    device_id: str = ""


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(value: str) -> str:
    """What a person types ("pa 7k3m-9qx2", with spaces or dashes) as the stored code."""
    return re.sub(r"[^0-9A-Za-z]", "", value or "").upper()[:16]


def phone_key(value: str) -> str:
    """A Vietnamese phone number as 0 + national digits ("+84 912 345 678" → "0912345678")."""
    digits = re.sub(r"\D", "", value or "")
    if digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    return digits


def email_key(value: str) -> str:
    return (value or "").strip().lower()


def feedback_submit(
    *,
    submission: Submission,
    actor: User | None = None,
    api_client: Open311Client | None = None,
) -> Feedback:
    """Record one feedback, all or nothing. ServiceError (with `field`) names what to fix.

    `actor` is the staff member recording it on someone's behalf (assisted intake); anonymous
    senders and Open311 applications have none.
    """
    s = submission
    _refuse_nul(s)
    category = _category(s.category)
    commune = _commune(s.commune)
    description = _description(s.description)
    address = " ".join((s.address or "").split())
    if len(address) > ADDRESS_MAX:
        raise ServiceError(
            _("The place is too long: at most %(n)d characters.") % {"n": ADDRESS_MAX},
            field="address",
        )
    lat, long = _point(s.lat, s.long)
    if not address and lat is None:
        raise ServiceError(
            _("Say where it is: write the place (street, hamlet, landmark) or mark it on the map."),
            field="address",
        )
    attributes = validate_attributes(category, s.attributes or {})
    contact = _contact(s)
    source = _source(s.source, actor)
    if len(s.photos) > MAX_PHOTOS:
        raise ServiceError(_("Send at most %(n)d photos.") % {"n": MAX_PHOTOS}, field="photos")
    from .photos import prepare_photo

    # Photos are decoded and re-encoded before the transaction: slow work holds no lock.
    prepared = [
        prepare_photo(p.stream, name=p.name, keep_location=s.keep_location) for p in s.photos
    ]
    now = timezone.now()
    from .calendar import due_date_for

    due = due_date_for(now, category.deadline_days)
    unit = route(category, commune)
    saved_files: list[Photo] = []
    try:
        with transaction.atomic():
            feedback = _insert_feedback(
                category=category,
                commune=commune,
                unit=unit,
                description=description,
                address=address,
                lat=lat,
                long=long,
                attributes=attributes,
                source=source,
                api_client=api_client,
                recorded_by=actor,
                received_at=now,
                due_date=due,
            )
            if contact is not None:
                contact.feedback = feedback
                contact.save()
                if contact.email:
                    _email_sender_on_commit(feedback.pk, "receipt")
            for position, photo in enumerate(prepared, start=1):
                row = Photo(
                    feedback=feedback,
                    storage_name=secrets.token_hex(16),
                    content_type=photo.content_type,
                    extension=photo.extension,
                    size=photo.size,
                    width=photo.width,
                    height=photo.height,
                    kept_location=photo.kept_location,
                    position=position,
                )
                row.file.save("photo", ContentFile(photo.content), save=False)
                saved_files.append(row)
                row.save()
            _event(feedback, EventKind.RECEIVED, actor=actor, at=now)
            _notify_handlers(
                feedback,
                gettext_noop("New feedback %(code)s (%(category)s) is waiting in %(unit)s."),
                exclude=actor,
            )
            # Last: the audit chain's lock (PostgreSQL) is then held only until the commit.
            audit_record(
                actor=actor,
                action="feedback.feedback.create",
                obj=feedback,
                unit=unit,
                after={
                    "category": category.code,
                    "commune": commune.code,
                    "unit": unit.code,
                    "source": source,
                    "photos": len(prepared),
                    "due_date": due.isoformat(),
                    "api_client": api_client.name if api_client else "",
                },
            )
    except BaseException:
        for row in saved_files:  # the rows rolled back; do not leave their files behind
            row.file.delete(save=False)
        raise
    return feedback


def searchable(feedback: Feedback) -> str:
    from thongtincoso.core.search import fold

    return fold(f"{feedback.code} {feedback.description} {feedback.address}")


def _refuse_nul(s: Submission) -> None:
    # A NUL character cannot be stored (PostgreSQL refuses it in text and JSON) and is never
    # typed by a person: say which field holds one instead of failing in the database.
    fields = {
        "description": s.description,
        "address": s.address,
        "name": s.name,
        "phone": s.phone,
        "email": s.email,
        "device_id": s.device_id,
        "category": s.category if isinstance(s.category, str) else "",
        "commune": s.commune if isinstance(s.commune, str) else "",
    }
    for code, value in (s.attributes or {}).items():
        values = value if isinstance(value, list) else [value]
        fields[f"attribute[{code}]"] = " ".join(str(v) for v in values) + str(code)
    for name, value in fields.items():
        if "\x00" in str(value or ""):
            raise ServiceError(
                _("This field contains a character that is not allowed."), field=name
            )


def _insert_feedback(**fields: Any) -> Feedback:
    # A clash of random codes is rare; retry with a new one (a savepoint keeps the transaction).
    for _attempt in range(5):
        feedback = Feedback(code=new_code(), token=secrets.token_urlsafe(24), **fields)
        feedback.search_text = searchable(feedback)
        try:
            with transaction.atomic():
                feedback.save(force_insert=True)
            return feedback
        except IntegrityError:
            continue
    raise ServiceError(_("Could not record the feedback; please send it again."))


def _category(value: Any) -> Category:
    if isinstance(value, Category):
        return value
    code = str(value or "").strip()
    category = Category.objects.filter(code=code, is_active=True).first() if code else None
    if category is None:
        raise ServiceError(
            _("Choose a category from the list.")
            if not code
            else _("Unknown category “%(code)s”.") % {"code": code[:40]},
            field="category",
        )
    return category


def _commune(value: Any) -> Unit:
    if isinstance(value, Unit):
        return value
    code = str(value or "").strip()
    commune = (
        Unit.objects.current().filter(code=code, kind=UnitKind.COMMUNE).first() if code else None
    )
    if commune is None:
        raise ServiceError(
            _("Choose the commune or ward where it happened.")
            if not code
            else _("Unknown commune code “%(code)s”.") % {"code": code[:32]},
            field="commune",
        )
    return commune


def _description(value: str) -> str:
    text = (value or "").replace("\r\n", "\n").strip()
    if not text:
        raise ServiceError(_("Describe what you want to report."), field="description")
    if len(text) > DESCRIPTION_MAX:
        raise ServiceError(
            _("The description is %(n)d characters long; at most %(max)d are allowed.")
            % {"n": len(text), "max": DESCRIPTION_MAX},
            field="description",
        )
    return text


def _point(lat: Any, long: Any) -> tuple[Decimal | None, Decimal | None]:
    if lat in (None, "") and long in (None, ""):
        return None, None
    try:
        lat_d = Decimal(str(lat)).quantize(Decimal("0.000001"))
        long_d = Decimal(str(long)).quantize(Decimal("0.000001"))
        if not (lat_d.is_finite() and long_d.is_finite()):  # "NaN" quantizes, then cannot compare
            raise ValueError
    except (InvalidOperation, ValueError):
        raise ServiceError(
            _("The map point is not valid: give latitude and longitude as decimal degrees."),
            field="lat",
        ) from None
    if not (LAT_RANGE[0] <= lat_d <= LAT_RANGE[1] and LONG_RANGE[0] <= long_d <= LONG_RANGE[1]):
        raise ServiceError(
            _("The map point is outside Việt Nam; check the latitude and longitude."), field="lat"
        )
    return lat_d, long_d


def validate_attributes(category: Category, given: dict[str, Any]) -> dict[str, Any]:
    """The category's questions answered as the definition says (Open311 attribute datatypes)."""
    out: dict[str, Any] = {}
    for attribute in category.attributes.all():
        raw = given.get(attribute.code)
        values = raw if isinstance(raw, list) else ([] if raw in (None, "") else [raw])
        values = [str(v).strip() for v in values if str(v).strip()]
        if not values:
            if attribute.required:
                raise ServiceError(
                    _("Answer “%(question)s”.") % {"question": attribute.description},
                    field=f"attribute[{attribute.code}]",
                )
            continue
        out[attribute.code] = _attribute_value(attribute, values)
    return out


def _attribute_value(attribute: Any, values: list[str]) -> Any:
    bad = ServiceError(
        _("The answer to “%(question)s” is not valid.") % {"question": attribute.description},
        field=f"attribute[{attribute.code}]",
    )
    keys = {str(v.get("key")) for v in attribute.values or []}
    if attribute.datatype == AttributeType.MULTI:
        if not set(values) <= keys:
            raise bad
        return sorted(set(values))
    if len(values) != 1:
        raise bad
    value = values[0]
    if attribute.datatype == AttributeType.SINGLE and value not in keys:
        raise bad
    if attribute.datatype == AttributeType.NUMBER:
        try:
            number = float(value)
        except ValueError:
            raise bad from None
        if not math.isfinite(number):
            raise bad
        return number
    if attribute.datatype == AttributeType.DATETIME:
        try:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise bad from None
    limit = 2000 if attribute.datatype == AttributeType.TEXT else 300
    if len(value) > limit:
        raise bad
    return value


def _contact(s: Submission) -> Contact | None:
    name = " ".join((s.name or "").split())
    phone = (s.phone or "").strip()
    email = (s.email or "").strip()
    device_id = (s.device_id or "").strip()[:100]
    if not (name or phone or email or device_id):
        return None
    if len(name) > NAME_MAX:
        raise ServiceError(
            _("The name is too long: at most %(n)d characters.") % {"n": NAME_MAX}, field="name"
        )
    key = phone_key(phone)
    if phone and not re.fullmatch(r"0\d{8,10}", key):
        raise ServiceError(
            _("The phone number is not valid; write it like 0912 345 678."), field="phone"
        )
    if email:
        try:
            validate_email(email)
        except ValidationError:
            raise ServiceError(
                _("The e-mail address is not valid; write it like ten@vidu.vn."), field="email"
            ) from None
    if (name or phone or email) and not s.consent and s.source == Source.WEB:
        raise ServiceError(
            _("To leave your name or contact details, tick the box agreeing to their use."),
            field="consent",
        )
    return Contact(
        name=name,
        phone=phone[:32],
        email=email[:254],
        phone_key=key,
        email_key=email_key(email),
        consent_at=timezone.now() if (s.consent or s.source != Source.WEB) else None,
        device_id=device_id,
    )


def _source(value: str, actor: User | None) -> str:
    if actor is None:
        if value not in (Source.WEB, Source.OPEN311):
            raise ServiceError(_("Unknown intake channel."), field="source")
        return value
    # Staff record feedback they received by phone or in person, on someone's behalf.
    if value not in (Source.PHONE, Source.MEETING, Source.OTHER):
        raise ServiceError(
            _("Say how the feedback was received: by phone, in person, or otherwise."),
            field="source",
        )
    return value


def assisted_intake_allowed(actor: Any, commune: Unit) -> bool:
    """Staff who may record feedback for people: feedback officers, editors, unit admins."""
    return any(
        policy.may(actor, action, commune)
        for action in (Action.HANDLE_FEEDBACK, Action.EDIT, Action.MANAGE_USERS)
    )


def feedback_record_assisted(*, actor: User, submission: Submission) -> Feedback:
    """Assisted intake: staff write down feedback given by phone or in person."""
    commune = _commune(submission.commune)
    if not assisted_intake_allowed(actor, commune):
        raise NotFoundError(_("Commune not found."), field="commune")
    submission.commune = commune  # type: ignore[assignment]
    return feedback_submit(submission=submission, actor=actor)


# --- Routing ------------------------------------------------------------------------------------


def route(category: Category, commune: Unit) -> Unit:
    """The unit responsible for feedback of `category` from `commune` (RoutingRule, else itself)."""
    areas = list(commune.ancestors(include_self=True).values_list("pk", flat=True))
    rules = (
        RoutingRule.objects.filter(area_id__in=areas, handler_unit__valid_to__isnull=True)
        .filter(Q(category=category) | Q(category__isnull=True))
        .select_related("handler_unit", "area")
    )
    best = sorted(rules, key=lambda r: (r.category_id is None, -r.area.depth))
    return best[0].handler_unit if best else commune


def routing_rule_save(
    *, actor: User, area: Unit, handler_unit: Unit, category: Category | None
) -> RoutingRule:
    """Create or change the rule for (category, area). Needs unit administration over `area`."""
    if not policy.may(actor, Action.MANAGE_USERS, area):
        raise NotFoundError(_("Unit not found."), field="area")
    if not handler_unit.is_current or handler_unit.kind == UnitKind.ZONE:
        raise ServiceError(
            _("Feedback can only go to a province, a commune or the nation in force."),
            field="handler_unit",
        )
    with transaction.atomic():
        rule, created = RoutingRule.objects.update_or_create(
            category=category, area=area, defaults={"handler_unit": handler_unit}
        )
        audit_record(
            actor=actor,
            action="feedback.route.create" if created else "feedback.route.update",
            obj=rule,
            unit=area,
            after={
                "category": category.code if category else "",
                "area": area.code,
                "handler_unit": handler_unit.code,
            },
        )
    return rule


def routing_rule_delete(*, actor: User, rule: RoutingRule) -> None:
    if not policy.may(actor, Action.MANAGE_USERS, rule.area):
        raise NotFoundError(_("Unit not found."))
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="feedback.route.delete",
            obj=rule,
            unit=rule.area,
            before={
                "category": rule.category.code if rule.category else "",
                "area": rule.area.code,
            },
        )
        rule.delete()


# --- Handling -----------------------------------------------------------------------------------


def _refuse_merged(feedback: Feedback) -> None:
    # A merged duplicate follows the feedback it joined (status and answer); handling it on its
    # own would later be overwritten by the master's changes.
    if feedback.duplicate_of_id is not None:
        raise ConflictError(
            _("This feedback was merged into %(code)s; handle that one instead.")
            % {"code": feedback.duplicate_of.code}  # type: ignore[union-attr]
        )


def _require_handler(actor: Any, feedback: Feedback) -> None:
    if not policy.may(actor, Action.HANDLE_FEEDBACK, feedback):
        raise NotFoundError(_("Feedback not found."))


def _locked(feedback: Feedback) -> Feedback:
    return (
        Feedback.objects.select_for_update()
        .select_related("unit", "category", "commune")
        .get(pk=feedback.pk)
    )


def _event(
    feedback: Feedback,
    kind: str,
    *,
    actor: Any = None,
    at: dt.datetime | None = None,
    public_text: str = "",
    note: str = "",
    from_unit: Unit | None = None,
    to_unit: Unit | None = None,
) -> Event:
    return Event.objects.create(
        feedback=feedback,
        kind=kind,
        status=feedback.status,
        actor=actor if getattr(actor, "pk", None) else None,
        created_at=at or timezone.now(),
        public_text=public_text,
        note=note,
        from_unit=from_unit,
        to_unit=to_unit,
    )


def _audit(actor: Any, verb: str, feedback: Feedback, **after: Any) -> None:
    audit_record(
        actor=actor,
        action=f"feedback.feedback.{verb}",
        obj=feedback,
        unit=feedback.unit,
        after={"status": feedback.status, **after},
    )


def _check_status(feedback: Feedback, allowed: Iterable[str]) -> None:
    if feedback.status not in set(allowed):
        raise ConflictError(
            _("Not possible while the feedback is “%(status)s”.")
            % {"status": feedback.get_status_display()}
        )


def _reason(value: str, field_name: str = "reason") -> str:
    text = " ".join((value or "").split())
    if not text:
        raise ServiceError(_("Give a reason."), field=field_name)
    if len(text) > REASON_MAX:
        raise ServiceError(
            _("The reason is too long: at most %(n)d characters.") % {"n": REASON_MAX},
            field=field_name,
        )
    return text


def _set_status(feedback: Feedback, status: str) -> None:
    feedback.status = status
    feedback.save(update_fields=["status", "updated_at", *_TIMESTAMPS.get(status, ())])
    # Merged duplicates follow every status change of their master (answered, reopened, closed).
    _follow_master(feedback)


_TIMESTAMPS: dict[str, tuple[str, ...]] = {
    Status.ACCEPTED: ("accepted_at",),
    Status.ANSWERED: ("answered_at",),
    Status.CLOSED: ("closed_at",),
    Status.REJECTED: ("closed_at", "reject_reason"),
}


def feedback_accept(*, actor: User, feedback: Feedback) -> Feedback:
    """A handler checked it: it is in scope and now public (without the sender's data)."""
    _require_handler(actor, feedback)
    with transaction.atomic():
        feedback = _locked(feedback)
        _refuse_merged(feedback)
        _check_status(feedback, {Status.RECEIVED, Status.TRANSFERRED})
        feedback.accepted_at = feedback.accepted_at or timezone.now()
        _set_status(feedback, Status.ACCEPTED)
        _event(feedback, EventKind.ACCEPTED, actor=actor)
        _audit(actor, "accept", feedback)
    return feedback


def feedback_start(*, actor: User, feedback: Feedback, note: str = "") -> Feedback:
    _require_handler(actor, feedback)
    with transaction.atomic():
        feedback = _locked(feedback)
        _refuse_merged(feedback)
        _check_status(feedback, {Status.ACCEPTED, Status.REOPENED, Status.TRANSFERRED})
        feedback.accepted_at = feedback.accepted_at or timezone.now()
        _set_status(feedback, Status.IN_PROGRESS)
        feedback.save(update_fields=["accepted_at"])
        _event(feedback, EventKind.IN_PROGRESS, actor=actor, note=note[:2000])
        _audit(actor, "start", feedback)
    return feedback


def feedback_assign(*, actor: User, feedback: Feedback, assignee: User | None) -> Feedback:
    """Give the feedback to one handler (None: back to the unit's officers)."""
    _require_handler(actor, feedback)
    if assignee is not None and not policy.may(assignee, Action.HANDLE_FEEDBACK, feedback):
        raise ServiceError(
            _("%(name)s cannot handle feedback of this unit.") % {"name": assignee.display_name},
            field="assignee",
        )
    with transaction.atomic():
        feedback = _locked(feedback)
        _refuse_merged(feedback)
        _check_status(feedback, OPEN_STATUSES)
        feedback.assignee = assignee
        feedback.save(update_fields=["assignee", "updated_at"])
        _event(
            feedback,
            EventKind.ASSIGNED,
            actor=actor,
            note=assignee.display_name if assignee else "",
        )
        _audit(actor, "assign", feedback, assignee=assignee.username if assignee else "")
        if assignee is not None and assignee.pk != actor.pk:
            _notify(
                [assignee],
                feedback,
                gettext_noop("Feedback %(code)s (%(category)s) was given to you to handle."),
            )
    return feedback


def feedback_transfer(*, actor: User, feedback: Feedback, to_unit: Unit, reason: str) -> Feedback:
    """Hand the feedback to the unit that is competent, with a reason the sender also sees."""
    _require_handler(actor, feedback)
    text = _reason(reason)
    if not to_unit.is_current or to_unit.kind == UnitKind.ZONE:
        raise ServiceError(
            _("Feedback can only go to a province, a commune or the nation in force."),
            field="to_unit",
        )
    with transaction.atomic():
        feedback = _locked(feedback)
        _refuse_merged(feedback)
        _check_status(feedback, OPEN_STATUSES)
        if to_unit.pk == feedback.unit_id:
            raise ServiceError(_("The feedback is already with this unit."), field="to_unit")
        from_unit = feedback.unit
        feedback.unit = to_unit
        feedback.assignee = None
        feedback.status = Status.TRANSFERRED
        feedback.save(update_fields=["unit", "assignee", "status", "updated_at"])
        _follow_master(feedback)
        _event(
            feedback,
            EventKind.TRANSFERRED,
            actor=actor,
            public_text=text,
            from_unit=from_unit,
            to_unit=to_unit,
        )
        audit_record(
            actor=actor,
            action="feedback.feedback.transfer",
            obj=feedback,
            unit=from_unit,
            before={"unit": from_unit.code},
            after={"unit": to_unit.code, "reason": text, "status": feedback.status},
        )
        _notify_handlers(
            feedback, gettext_noop("Feedback %(code)s (%(category)s) was transferred to %(unit)s.")
        )
    return feedback


def feedback_reject(*, actor: User, feedback: Feedback, reason: str) -> Feedback:
    """Out of scope (not a matter for these bodies, abusive, spam): closed with a reason."""
    _require_handler(actor, feedback)
    text = _reason(reason)
    with transaction.atomic():
        feedback = _locked(feedback)
        _refuse_merged(feedback)
        _check_status(feedback, OPEN_STATUSES)
        feedback.reject_reason = text
        feedback.closed_at = timezone.now()
        _set_status(feedback, Status.REJECTED)
        _event(feedback, EventKind.REJECTED, actor=actor, public_text=text)
        _audit(actor, "reject", feedback, reason=text)
    return feedback


def feedback_close(*, actor: User | None, feedback: Feedback) -> Feedback:
    """Answered and settled. `actor` None: closed by the periodic job after the reopen window."""
    if actor is not None:
        _require_handler(actor, feedback)
    with transaction.atomic():
        feedback = _locked(feedback)
        if actor is not None:
            _refuse_merged(feedback)
        _check_status(feedback, {Status.ANSWERED})
        feedback.closed_at = timezone.now()
        _set_status(feedback, Status.CLOSED)
        _event(feedback, EventKind.CLOSED, actor=actor)
        _audit(actor, "close", feedback)
    return feedback


def reopen_window() -> dt.timedelta:
    return dt.timedelta(days=settings.TTCS_FEEDBACK_REOPEN_DAYS)


def may_reopen(feedback: Feedback, now: dt.datetime | None = None) -> bool:
    now = now or timezone.now()
    return (
        feedback.duplicate_of_id is None
        and feedback.status in (Status.ANSWERED, Status.CLOSED)
        and feedback.answered_at is not None
        and now - feedback.answered_at <= reopen_window()
    )


def sender_key_matches(feedback: Feedback, key: str) -> bool:
    """Is `key` this feedback's sender key (`Feedback.token`)? Never published for web senders:
    only the receipt link and an Open311 application's `token` carry it."""
    given = (key or "").strip()
    return bool(given) and secrets.compare_digest(given.encode(), feedback.token.encode())


def _is_sender(feedback: Feedback, verification: str) -> bool:
    """The sender key, or the phone or e-mail the sender gave (matched as for the data export)."""
    given = (verification or "").strip()
    if not given:
        return False
    if sender_key_matches(feedback, given):
        return True
    contact = Contact.objects.filter(feedback=feedback).first()
    return bool(
        contact is not None
        and (
            (contact.phone_key and phone_key(given) == contact.phone_key)
            or (contact.email_key and email_key(given) == contact.email_key)
        )
    )


def feedback_reopen(*, code: str, reason: str, verification: str) -> Feedback:
    """The sender is not satisfied with the answer (within the window): back to the unit.

    Only the sender may: `verification` is their sender key, phone or e-mail. A wrong one gets
    the same NotFoundError as an unknown code, so the form cannot be used to probe either.
    """
    text = _reason(reason)
    with transaction.atomic():
        feedback = (
            Feedback.objects.select_for_update()
            .select_related("unit", "category")
            .filter(code=normalise_code(code))
            .first()
        )
        if feedback is None or not _is_sender(feedback, verification):
            raise NotFoundError(_("No feedback has this tracking code."), field="code")
        if not may_reopen(feedback):
            raise ConflictError(
                _("This feedback can no longer be reopened; send a new one if needed.")
            )
        from .calendar import due_date_for

        feedback.closed_at = None
        # The unit owes a new answer: a new deadline, counted from now, with its own reminder.
        feedback.due_date = due_date_for(timezone.now(), feedback.category.deadline_days)
        feedback.reminded_for = None
        feedback.save(update_fields=["closed_at", "due_date", "reminded_for"])
        _set_status(feedback, Status.REOPENED)
        # The sender's reason is their own words: internal, like the description before checking.
        _event(feedback, EventKind.REOPENED, note=text)
        _audit(None, "reopen", feedback)
        _notify_handlers(
            feedback, gettext_noop("The sender reopened feedback %(code)s (%(category)s).")
        )
    return feedback


def feedback_merge(*, actor: User, duplicate: Feedback, into: Feedback) -> Feedback:
    """`duplicate` reports the same thing as `into`: it will share `into`'s answer."""
    _require_handler(actor, duplicate)
    _require_handler(actor, into)
    if duplicate.pk == into.pk:
        raise ServiceError(_("A feedback cannot be merged into itself."), field="into")
    with transaction.atomic():
        duplicate = _locked(duplicate)
        into = _locked(into)
        if into.duplicate_of_id is not None:
            raise ServiceError(
                _("%(code)s is itself merged; merge into %(master)s instead.")
                % {"code": into.code, "master": into.duplicate_of.code},  # type: ignore[union-attr]
                field="into",
            )
        _check_status(duplicate, OPEN_STATUSES)
        if into.status in (Status.REJECTED,):
            raise ServiceError(_("Cannot merge into a rejected feedback."), field="into")
        if duplicate.duplicates.exists():
            raise ServiceError(
                _("Other feedback is merged into %(code)s; merge the other way round.")
                % {"code": duplicate.code},
                field="into",
            )
        duplicate.duplicate_of = into
        # Merging is checking: the handler read it and found the same matter as `into`.
        duplicate.accepted_at = duplicate.accepted_at or timezone.now()
        duplicate.status = into.status
        duplicate.answered_at = into.answered_at
        duplicate.closed_at = into.closed_at
        duplicate.save(
            update_fields=[
                "duplicate_of",
                "accepted_at",
                "status",
                "answered_at",
                "closed_at",
                "updated_at",
            ]
        )
        _event(duplicate, EventKind.MERGED, actor=actor, public_text=into.code)
        _audit(actor, "merge", duplicate, into=into.code)
        if into.status in (Status.ANSWERED, Status.CLOSED) and (
            Contact.objects.filter(feedback=duplicate).exclude(email="").exists()
        ):
            # Merged into one already answered: its sender hears of that answer now.
            _email_sender_on_commit(duplicate.pk, "answered")
    return duplicate


def _follow_master(master: Feedback) -> None:
    """Merged duplicates share the master's status and answer times."""
    master.duplicates.update(
        status=master.status,
        answered_at=master.answered_at,
        closed_at=master.closed_at,
        updated_at=timezone.now(),
    )


# --- Answers ------------------------------------------------------------------------------------


def answers_need_approval(unit: Unit) -> bool:
    row = UnitSettings.objects.filter(unit=unit).first()
    return bool(row and row.answers_need_approval)


def unit_settings_update(*, actor: User, unit: Unit, answers_need_approval: bool) -> UnitSettings:
    if not policy.may(actor, Action.MANAGE_USERS, unit):
        raise NotFoundError(_("Unit not found."))
    with transaction.atomic():
        row, _created = UnitSettings.objects.get_or_create(unit=unit)
        before = row.answers_need_approval
        row.answers_need_approval = answers_need_approval
        row.save()
        audit_record(
            actor=actor,
            action="feedback.settings.update",
            obj=row,
            unit=unit,
            before={"answers_need_approval": before},
            after={"answers_need_approval": answers_need_approval},
        )
    return row


def answer_save(*, actor: User, feedback: Feedback, text: str) -> Answer:
    """Write or rewrite the answer (not yet public)."""
    _require_handler(actor, feedback)
    body = (text or "").replace("\r\n", "\n").strip()
    if not body:
        raise ServiceError(_("Write the answer."), field="text")
    if len(body) > ANSWER_MAX:
        raise ServiceError(
            _("The answer is too long: at most %(n)d characters.") % {"n": ANSWER_MAX},
            field="text",
        )
    with transaction.atomic():
        feedback = _locked(feedback)
        _check_status(feedback, OPEN_STATUSES)
        if feedback.duplicate_of_id:
            raise ConflictError(
                _("Merged feedback shares the answer of the one it was merged into.")
            )
        answer = Answer.objects.select_for_update().filter(feedback=feedback).first()
        if answer is not None and answer.state == AnswerState.SUBMITTED:
            raise ConflictError(_("The answer is waiting for approval; it cannot change now."))
        if answer is None:
            answer = Answer(feedback=feedback, author=actor)
        answer.text = body
        answer.author = actor
        answer.state = AnswerState.DRAFT
        answer.save()
        audit_record(
            actor=actor,
            action="feedback.answer.save",
            obj=feedback,
            unit=feedback.unit,
            after={"length": len(body)},
        )
    return answer


def answer_submit(*, actor: User, feedback: Feedback) -> Answer:
    """Publish the answer, or send it for approval when the unit requires one."""
    _require_handler(actor, feedback)
    with transaction.atomic():
        feedback = _locked(feedback)
        _check_status(feedback, OPEN_STATUSES)
        answer = Answer.objects.select_for_update().filter(feedback=feedback).first()
        if answer is None or answer.state not in (AnswerState.DRAFT, AnswerState.RETURNED):
            raise ConflictError(_("Write the answer first."))
        if not answers_need_approval(feedback.unit):
            return _publish(answer, feedback, actor, approver=None)
        answer.state = AnswerState.SUBMITTED
        answer.submitted_at = timezone.now()
        answer.return_comment = ""
        answer.save()
        _event(feedback, EventKind.ANSWER_SUBMITTED, actor=actor)
        _audit(actor, "answer_submit", feedback)
        _notify(
            [u for u in answer_approvers(feedback) if u.pk != actor.pk],
            feedback,
            gettext_noop(
                "The answer to feedback %(code)s (%(category)s) is waiting for your approval."
            ),
        )
    return answer


def answer_approvers(feedback: Feedback) -> list[User]:
    assignments = RoleAssignment.objects.filter(
        role__in=APPROVER_ROLES, user__is_active=True
    ).filter(Q(unit=feedback.unit) | Q(unit__in=feedback.unit.ancestors(), covers_descendants=True))
    return list(User.objects.filter(pk__in=assignments.values("user_id")).order_by("pk"))


def answer_approve(*, actor: User, feedback: Feedback) -> Answer:
    if not policy.may(actor, Action.APPROVE, feedback):
        raise NotFoundError(_("Feedback not found."))
    with transaction.atomic():
        feedback = _locked(feedback)
        answer = Answer.objects.select_for_update().filter(feedback=feedback).first()
        if answer is None or answer.state != AnswerState.SUBMITTED:
            raise ConflictError(_("There is no answer waiting for approval."))
        _check_status(feedback, OPEN_STATUSES)
        return _publish(answer, feedback, actor, approver=actor)


def answer_return(*, actor: User, feedback: Feedback, comment: str) -> Answer:
    if not policy.may(actor, Action.APPROVE, feedback):
        raise NotFoundError(_("Feedback not found."))
    text = _reason(comment, "comment")
    with transaction.atomic():
        feedback = _locked(feedback)
        answer = Answer.objects.select_for_update().filter(feedback=feedback).first()
        if answer is None or answer.state != AnswerState.SUBMITTED:
            raise ConflictError(_("There is no answer waiting for approval."))
        answer.state = AnswerState.RETURNED
        answer.return_comment = text
        answer.save()
        _event(feedback, EventKind.ANSWER_RETURNED, actor=actor, note=text)
        _audit(actor, "answer_return", feedback)
        _notify(
            [answer.author], feedback, gettext_noop("The answer to feedback %(code)s was returned.")
        )
    return answer


def _publish(answer: Answer, feedback: Feedback, actor: User, *, approver: User | None) -> Answer:
    now = timezone.now()
    if feedback.accepted_at is None:
        # Answering is checking: an answer published straight from "received" accepts it (the
        # feedback becomes public with its answer), and the history says so.
        feedback.accepted_at = now
        feedback.save(update_fields=["accepted_at"])
        _event(feedback, EventKind.ACCEPTED, actor=actor)
    answer.state = AnswerState.PUBLISHED
    # The public's copy; `answer_save` never touches it, so a reopened feedback keeps showing
    # its previous answer while the new one is drafted.
    answer.published_text = answer.text
    answer.approved_by = approver
    answer.published_at = now
    answer.save()
    feedback.answered_at = now
    feedback.closed_at = None
    _set_status(feedback, Status.ANSWERED)
    feedback.save(update_fields=["closed_at"])
    _event(feedback, EventKind.ANSWERED, actor=actor, public_text=answer.text)
    _audit(actor, "answer_publish", feedback, approved_by=approver.username if approver else "")
    # Senders who left an e-mail hear of the answer: this feedback's and its merged duplicates'.
    with_email = Contact.objects.filter(
        Q(feedback=feedback) | Q(feedback__duplicate_of=feedback)
    ).exclude(email="")
    for feedback_id in with_email.values_list("feedback_id", flat=True):
        _email_sender_on_commit(feedback_id, "answered")
    return answer


# --- E-mail to the sender -------------------------------------------------------------------------


def _email_sender_on_commit(feedback_id: int, kind: str) -> None:
    """After commit, e-mail the sender (receipt or answer) when the instance sends e-mail."""
    if not settings.NOTIFY_BY_EMAIL:
        return
    from thongtincoso.jobs.services import enqueue_on_commit

    from .tasks import email_sender

    enqueue_on_commit(email_sender, feedback_id, kind)


def sender_email(feedback_id: int, kind: str) -> tuple[str, str, str] | None:
    """(address, subject, body) of the e-mail to the sender, or None when there is nobody to
    write to (no e-mail given, purged meanwhile). Written in Vietnamese: a sender's language is
    unknown, and the service is Vietnamese first. The receipt carries the sender key link (the
    mailbox is the sender's own); every message is audited as a use of the personal data."""
    feedback = Feedback.objects.select_related("category", "unit").filter(pk=feedback_id).first()
    contact = Contact.objects.filter(feedback_id=feedback_id).first()
    if feedback is None or contact is None or not contact.email:
        return None
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    try:
        track = base + reverse("feedback:track", args=[feedback.code])
    except NoReverseMatch:
        track = ""
    with translation.override("vi"):
        if kind == "receipt":
            subject = _("Feedback %(code)s received") % {"code": feedback.code}
            body = _(
                "Thank you. Your feedback about “%(category)s” was received with tracking code "
                "%(code)s. An answer is due by %(due)s.\n\nFollow it, and reopen it if the "
                "answer is not enough, with this link (keep it; do not share it):\n%(link)s"
            ) % {
                "category": feedback.category.name,
                "code": feedback.code,
                "due": feedback.due_date.strftime("%d/%m/%Y"),
                "link": f"{track}?key={feedback.token}" if track else feedback.code,
            }
        else:
            from .public import public_text, published_answer

            answer = published_answer(feedback)
            if answer is None:
                return None
            subject = _("Feedback %(code)s has been answered") % {"code": feedback.code}
            body = _("%(unit)s answered your feedback %(code)s:\n\n%(answer)s\n\n%(link)s") % {
                "unit": feedback.unit.committee_name or feedback.unit.name,
                "code": feedback.code,
                "answer": public_text(answer.published_text),
                "link": track,
            }
    audit_record(
        actor=None,
        action="feedback.contact.email",
        obj=feedback,
        unit=feedback.unit,
        after={"kind": kind},
    )
    return contact.email, subject, body


def answer_to_bulletin(*, actor: User, feedback: Feedback) -> Bulletin:
    """A bulletin draft (radio, e-board) from the public answer; each links to the other."""
    from thongtincoso.bulletins.models import Category as BulletinCategory
    from thongtincoso.bulletins.services import bulletin_create

    from .public import public_text

    _require_handler(actor, feedback)
    # Bulletins are written by editors; say so rather than answering "not found" further down.
    if not policy.may(actor, Action.EDIT, feedback.unit):
        raise PermissionDeniedError(
            _("Making a bulletin needs the editor role in %(unit)s.") % {"unit": feedback.unit.name}
        )
    answer = Answer.objects.filter(feedback=feedback).exclude(published_text="").first()
    if answer is None:
        raise ConflictError(_("Publish the answer before making a bulletin from it."))
    category = BulletinCategory.objects.filter(code="tra-loi-phan-anh", is_active=True).first()
    with transaction.atomic():
        feedback = _locked(feedback)
        if feedback.bulletin_id:
            raise ConflictError(_("A bulletin was already made from this answer."))
        # A bulletin is read out on loudspeakers and shown on boards, in Vietnamese; the sender's
        # phone number or e-mail (typed in the description, or quoted in the answer) stays out.
        with translation.override("vi"):
            title = _("Answer to feedback %(code)s: %(category)s") % {
                "code": feedback.code,
                "category": feedback.category.name,
            }
            question = _("Feedback received on %(date)s about %(place)s:") % {
                "date": timezone.localtime(feedback.received_at).strftime("%d/%m/%Y"),
                "place": public_text(feedback.address) or feedback.commune.name,
            }
            lines = [
                question,
                *public_text(feedback.description).split("\n"),
                *public_text(answer.published_text).split("\n"),
            ]
        body = "".join(f"<p>{_escape(line)}</p>" for line in lines if line.strip())
        fields: dict[str, Any] = {"title": title[:300], "body": body}
        if category is not None:
            fields["category"] = category.code
        bulletin = bulletin_create(actor=actor, unit=feedback.unit, **fields)
        feedback.bulletin = bulletin
        feedback.save(update_fields=["bulletin", "updated_at"])
        _event(feedback, EventKind.BULLETIN, actor=actor, note=str(bulletin.pk))
        _audit(actor, "bulletin", feedback, bulletin=bulletin.pk)
    return bulletin


def _escape(text: str) -> str:
    from django.utils.html import escape

    return str(escape(text))


# --- Privacy ------------------------------------------------------------------------------------


def may_see_contact(actor: Any, feedback: Feedback) -> bool:
    """The assigned handler (or, before anyone is assigned, the unit's feedback officers), and the
    administrators of the responsible unit."""
    for grant in policy.grants(actor):
        if grant.role in ADMIN_ROLES and grant.covers(feedback.unit):
            return True
    if not policy.may(actor, Action.HANDLE_FEEDBACK, feedback):
        return False
    return feedback.assignee_id is None or feedback.assignee_id == getattr(actor, "pk", None)


def contact_for(*, actor: User, feedback: Feedback) -> Contact | None:
    """The sender's contact details for someone allowed to see them; every look is audited."""
    if not may_see_contact(actor, feedback):
        raise NotFoundError(_("Feedback not found."))
    contact = Contact.objects.filter(feedback=feedback).first()
    audit_record(
        actor=actor,
        action="feedback.contact.view",
        obj=feedback,
        unit=feedback.unit,
        after={"present": contact is not None},
    )
    return contact


def photo_for(*, actor: User, feedback: Feedback, pk: int) -> Photo:
    """One photo for someone allowed to see the sender's data (photos show faces, number plates,
    homes); every look is audited, like the contact details."""
    if not may_see_contact(actor, feedback):
        raise NotFoundError(_("Feedback not found."))
    photo = Photo.objects.filter(feedback=feedback, pk=pk).first()
    if photo is None or not photo.file:
        raise NotFoundError(_("Photo not found."))
    audit_record(
        actor=actor,
        action="feedback.photo.view",
        obj=feedback,
        unit=feedback.unit,
        after={"photo": photo.position},
    )
    return photo


def feedback_redact_text(*, actor: User, feedback: Feedback, description: str) -> Feedback:
    """Replace the description with an edited one (personal data taken out). Not reversible."""
    _require_handler(actor, feedback)
    text = _description(description)
    with transaction.atomic():
        feedback = _locked(feedback)
        feedback.description = text
        feedback.text_redacted_at = timezone.now()
        # The folded copy must not keep what was redacted.
        feedback.search_text = searchable(feedback)
        feedback.save(
            update_fields=["description", "text_redacted_at", "search_text", "updated_at"]
        )
        _event(feedback, EventKind.REDACTED, actor=actor, note="text")
        # The audit record says that it changed, never what it said.
        _audit(actor, "redact_text", feedback, length=len(text))
    return feedback


def feedback_redact_photo(*, actor: User, photo: Photo) -> Photo:
    """Replace a photo with a blank one of the same size (a face, a number plate, a document)."""
    from .photos import redacted_placeholder

    feedback = photo.feedback
    _require_handler(actor, feedback)
    with transaction.atomic():
        photo = Photo.objects.select_for_update().get(pk=photo.pk)
        old_name = photo.file.name
        content = redacted_placeholder(photo.width, photo.height)
        photo.storage_name = secrets.token_hex(16)
        photo.extension = "jpg"
        photo.content_type = "image/jpeg"
        photo.size = len(content)
        photo.kept_location = False
        photo.redacted_at = timezone.now()
        photo.file.save("photo", ContentFile(content), save=False)
        photo.save()
        _event(feedback, EventKind.REDACTED, actor=actor, note=f"photo {photo.position}")
        _audit(actor, "redact_photo", feedback, photo=photo.position)
        transaction.on_commit(lambda: photo.file.storage.delete(old_name))
    return photo


def export_for_sender(*, code: str, verification: str) -> dict[str, Any] | None:
    """Everything held about a sender's feedback, for them: the code plus their phone or e-mail.

    None when the code is unknown *or* the verification does not match: the two answer alike, so
    the export cannot be used to learn whether a code exists or whose it is.
    """
    feedback = (
        Feedback.objects.select_related("category", "commune", "unit")
        .filter(code=normalise_code(code))
        .first()
    )
    contact = Contact.objects.filter(feedback=feedback).first() if feedback else None
    given = (verification or "").strip()
    if feedback is None or contact is None or not given:
        return None
    matches = (contact.phone_key and phone_key(given) == contact.phone_key) or (
        contact.email_key and email_key(given) == contact.email_key
    )
    if not matches:
        return None
    audit_record(
        actor=None,
        action="feedback.contact.export",
        obj=feedback,
        unit=feedback.unit,
        after={"by": "sender"},
    )
    return {
        "tracking_code": feedback.code,
        "category": feedback.category.name,
        "commune": feedback.commune.name,
        "responsible_unit": feedback.unit.name,
        "status": feedback.status,
        "description": feedback.description,
        "address": feedback.address,
        "lat": str(feedback.lat) if feedback.lat is not None else None,
        "long": str(feedback.long) if feedback.long is not None else None,
        "details": feedback.attributes,
        "received_at": feedback.received_at.isoformat(),
        "due_date": feedback.due_date.isoformat(),
        "contact": {
            "name": contact.name,
            "phone": contact.phone,
            "email": contact.email,
            "consent_at": contact.consent_at.isoformat() if contact.consent_at else None,
            "device_id": contact.device_id,
        },
        "photos": [
            {"position": p.position, "size": p.size, "location_kept": p.kept_location}
            for p in feedback.photos.all()
        ],
    }


def purge_personal_data(*, now: dt.datetime | None = None) -> int:
    """Delete the contact details of feedback closed longer ago than the retention period."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.TTCS_FEEDBACK_RETENTION_DAYS)
    due = Feedback.objects.filter(
        status__in=(Status.CLOSED, Status.REJECTED),
        closed_at__lt=cutoff,
        personal_data_purged_at__isnull=True,
    )
    purged = 0
    for pk in list(due.values_list("pk", flat=True)[:5000]):
        with transaction.atomic():
            feedback = Feedback.objects.select_for_update().select_related("unit").get(pk=pk)
            Contact.objects.filter(feedback=feedback).delete()
            # A reopening reason is the sender's own words, kept as an internal note.
            feedback.events.filter(kind=EventKind.REOPENED).update(note="")
            for photo in feedback.photos.filter(kept_location=True):
                _strip_photo_location(photo)
            feedback.personal_data_purged_at = now
            feedback.save(update_fields=["personal_data_purged_at"])
            _audit(None, "purge_personal_data", feedback)
        purged += 1
    return purged


def _strip_photo_location(photo: Photo) -> None:
    from .photos import prepare_photo

    with photo.file.open("rb") as handle:
        prepared = prepare_photo(handle, name="photo", keep_location=False)
    old_name = photo.file.name
    photo.storage_name = secrets.token_hex(16)
    photo.kept_location = False
    photo.size = prepared.size
    photo.file.save("photo", ContentFile(prepared.content), save=False)
    photo.save()
    transaction.on_commit(lambda: photo.file.storage.delete(old_name))


# --- Deadlines and reminders --------------------------------------------------------------------


def send_due_reminders(*, today: dt.date | None = None) -> int:
    """Remind handlers of feedback due within the next working days (once per due date)."""
    from .calendar import add_working_days

    today = today or timezone.localdate()
    horizon = add_working_days(today, settings.TTCS_FEEDBACK_REMIND_DAYS)
    rows = (
        Feedback.objects.filter(
            status__in=OPEN_STATUSES, duplicate_of__isnull=True, due_date__lte=horizon
        )
        .exclude(reminded_for=F("due_date"))
        .select_related("unit", "category", "assignee")
    )
    sent = 0
    for feedback in rows[:5000]:
        with transaction.atomic():
            template = (
                gettext_noop(
                    "Feedback %(code)s (%(category)s) is overdue: the answer was due on %(due)s."
                )
                if feedback.due_date < today
                else gettext_noop("Feedback %(code)s (%(category)s) must be answered by %(due)s.")
            )
            recipients = [feedback.assignee] if feedback.assignee else handlers_of(feedback.unit)
            _notify(recipients, feedback, template)
            Feedback.objects.filter(pk=feedback.pk).update(reminded_for=feedback.due_date)
        sent += 1
    return sent


def close_answered(*, now: dt.datetime | None = None) -> int:
    """Answered feedback the sender did not reopen within the window is closed."""
    now = now or timezone.now()
    stale = Feedback.objects.filter(
        status=Status.ANSWERED,
        duplicate_of__isnull=True,
        answered_at__lt=now - reopen_window(),
    ).values_list("pk", flat=True)
    closed = 0
    for pk in list(stale[:5000]):
        try:
            feedback_close(actor=None, feedback=Feedback.objects.get(pk=pk))
            closed += 1
        except ServiceError:
            continue  # changed meanwhile
    return closed


# --- Duplicates ---------------------------------------------------------------------------------

DUPLICATE_RADIUS_M = 250
DUPLICATE_DAYS = 30


def possible_duplicates(
    feedback: Feedback, *, limit: int = 10
) -> list[tuple[Feedback, int | None]]:
    """Recent feedback of the same category in the same commune, nearest first (metres or None)."""
    since = feedback.received_at - dt.timedelta(days=DUPLICATE_DAYS)
    candidates = (
        Feedback.objects.filter(
            category_id=feedback.category_id,
            commune_id=feedback.commune_id,
            received_at__gte=since,
            duplicate_of__isnull=True,
        )
        .exclude(pk=feedback.pk)
        .exclude(status=Status.REJECTED)
        .select_related("unit")
        .order_by("-received_at")[:200]
    )
    out: list[tuple[Feedback, int | None]] = []
    place = _norm_place(feedback.address)
    for other in candidates:
        distance = _distance_m(feedback, other)
        if distance is not None:
            if distance <= DUPLICATE_RADIUS_M:
                out.append((other, distance))
        elif place and place == _norm_place(other.address):
            out.append((other, None))
    out.sort(key=lambda pair: (pair[1] is None, pair[1] or 0))
    return out[:limit]


def _norm_place(text: str) -> str:
    return " ".join((text or "").lower().split())


def _distance_m(a: Feedback, b: Feedback) -> int | None:
    if None in (a.lat, a.long, b.lat, b.long):
        return None
    lat1, lon1, lat2, lon2 = (math.radians(float(v or 0)) for v in (a.lat, a.long, b.lat, b.long))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return round(2 * 6_371_000 * math.asin(math.sqrt(h)))


# --- Open311 application keys --------------------------------------------------------------------

KEY_PREFIX = "ttcs311_"


def open311_key_create(*, name: str, actor: User | None = None) -> tuple[Open311Client, str]:
    """A new application key; the key itself is shown once and only its hash is kept."""
    label = " ".join((name or "").split())
    if not label or len(label) > 100:
        raise ServiceError(
            _("Give the application a name of at most 100 characters."), field="name"
        )
    if Open311Client.objects.filter(name=label).exists():
        raise ServiceError(_("An application with this name already exists."), field="name")
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        client = Open311Client.objects.create(
            name=label, prefix=prefix, key_hash=hashlib.sha256(key.encode()).hexdigest()
        )
        audit_record(actor=actor, action="feedback.open311_key.create", obj=client)
    return client, key


def open311_key_revoke(*, client: Open311Client, actor: User | None = None) -> Open311Client:
    with transaction.atomic():
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        audit_record(actor=actor, action="feedback.open311_key.revoke", obj=client)
    return client


def open311_client_for_key(key: str) -> Open311Client | None:
    """The application a key belongs to, or None (unknown, malformed or revoked)."""
    if not key or not key.startswith(KEY_PREFIX):
        return None
    prefix = key[len(KEY_PREFIX) :].split("_", 1)[0]
    client = Open311Client.objects.filter(prefix=prefix, revoked_at__isnull=True).first()
    if client is None:
        return None
    if not secrets.compare_digest(client.key_hash, hashlib.sha256(key.encode()).hexdigest()):
        return None
    return client


# --- Notifications ------------------------------------------------------------------------------


def handlers_of(unit: Unit) -> list[User]:
    """Feedback officers of `unit` (their role on it, or above it covering it)."""
    assignments = RoleAssignment.objects.filter(
        role__in=HANDLER_ROLES, user__is_active=True
    ).filter(Q(unit=unit) | Q(unit__in=unit.ancestors(), covers_descendants=True))
    # Nation-wide system administrators hold every action; they are not the unit's officers.
    assignments = assignments.exclude(role=Role.SYSTEM_ADMIN)
    return list(User.objects.filter(pk__in=assignments.values("user_id")).order_by("pk"))


def feedback_url(feedback: Feedback) -> str:
    try:
        return reverse("feedback:staff_detail", args=[feedback.code])
    except NoReverseMatch:
        return ""


def _notify(recipients: Iterable[User], feedback: Feedback, template: str) -> None:
    # `template` is an untranslated msgid; notifications are written in Vietnamese.
    with translation.override("vi"):
        message = _(template) % {
            "code": feedback.code,
            "category": feedback.category.name,
            "unit": feedback.unit.name,
            "due": feedback.due_date.strftime("%d/%m/%Y"),
        }
    notify(recipients=list(recipients), message=message, url=feedback_url(feedback))


def _notify_handlers(feedback: Feedback, template: str, *, exclude: Any = None) -> None:
    people = [u for u in handlers_of(feedback.unit) if u.pk != getattr(exclude, "pk", None)]
    _notify(people, feedback, template)
