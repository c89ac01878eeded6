"""Citizen feedback (phản ánh, kiến nghị): what people send, who handles it, the public answer.

A `Feedback` belongs to the unit responsible for it (`unit`, found by routing from its category
and commune), so the one permission policy scopes handlers' lists like everything else. What can
identify the sender lives apart in `Contact` (one row, purged after the retention period) and is
read only through `services.contact_for()`, which audits every view. Public output (portal,
Open311, status page) is built from `public.py` only, which never touches `Contact`.

Open311 GeoReport v2 names: a `Category` is a "service", a `Feedback` a "service request", its
`code` the `service_request_id`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from thongtincoso.units.models import Unit

DESCRIPTION_MAX = 4000
MAX_PHOTOS = 5


class Category(models.Model):
    """A kind of feedback (an Open311 service), with its answering deadline in working days."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.CharField(_("description"), max_length=500, blank=True)
    # Open311 "group" and "keywords" (comma-separated).
    group = models.CharField(_("group"), max_length=80, blank=True)
    keywords = models.CharField(_("keywords"), max_length=200, blank=True)
    deadline_days = models.PositiveSmallIntegerField(
        _("deadline (working days)"),
        default=10,
        help_text=_("Working days from receipt to the answer; weekends and holidays do not count."),
    )
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("feedback category")
        verbose_name_plural = _("feedback categories")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class AttributeType(models.TextChoices):
    """Open311 service definition datatypes."""

    STRING = "string", _("Short text")
    NUMBER = "number", _("Number")
    DATETIME = "datetime", _("Date and time")
    TEXT = "text", _("Long text")
    SINGLE = "singlevaluelist", _("One choice from a list")
    MULTI = "multivaluelist", _("Several choices from a list")


class CategoryAttribute(models.Model):
    """An extra question a category asks (an Open311 service definition attribute)."""

    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, related_name="attributes", verbose_name=_("category")
    )
    code = models.SlugField(_("code"), max_length=40)
    description = models.CharField(_("question"), max_length=300)
    datatype = models.CharField(
        _("answer type"), max_length=20, choices=AttributeType.choices, default=AttributeType.STRING
    )
    required = models.BooleanField(_("required"), default=False)
    # For the list types: [{"key": "...", "name": "..."}].
    values = models.JSONField(_("choices"), default=list, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("category question")
        verbose_name_plural = _("category questions")
        ordering = ["category", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["category", "code"], name="feedback_attribute_unique")
        ]

    def __str__(self) -> str:
        return f"{self.category.code}.{self.code}"


class RoutingRule(models.Model):
    """ "Feedback of this category (any when blank) from this area goes to that unit".

    Without a matching rule, feedback goes to its commune. The most specific rule wins: a rule for
    the category beats one for any category, and a deeper area beats a wider one.
    """

    category = models.ForeignKey(
        Category,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="routing_rules",
        verbose_name=_("category"),
    )
    area = models.ForeignKey(
        Unit, on_delete=models.CASCADE, related_name="+", verbose_name=_("area")
    )
    handler_unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="+", verbose_name=_("responsible unit")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    policy_unit_field = "area"

    class Meta:
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")
        constraints = [
            models.UniqueConstraint(fields=["category", "area"], name="feedback_route_unique")
        ]

    def __str__(self) -> str:
        return f"{self.category or '*'} @ {self.area} → {self.handler_unit}"


class Status(models.TextChoices):
    RECEIVED = "received", _("Received")
    ACCEPTED = "accepted", _("Accepted")
    TRANSFERRED = "transferred", _("Transferred")
    IN_PROGRESS = "in_progress", _("In progress")
    ANSWERED = "answered", _("Answered")
    CLOSED = "closed", _("Closed")
    REJECTED = "rejected", _("Rejected as out of scope")
    REOPENED = "reopened", _("Reopened")


# Statuses in which the responsible unit still owes an answer (deadlines and reminders apply).
OPEN_STATUSES = frozenset(
    {Status.RECEIVED, Status.ACCEPTED, Status.TRANSFERRED, Status.IN_PROGRESS, Status.REOPENED}
)
# Statuses the public sees (Open311 lists, the portal), once a handler has accepted the feedback
# (accepted_at); one nobody has checked yet, or one rejected as out of scope, is known only to
# its sender (by tracking code) and its handlers.
PUBLIC_STATUSES = frozenset(
    {
        Status.ACCEPTED,
        Status.TRANSFERRED,
        Status.IN_PROGRESS,
        Status.ANSWERED,
        Status.CLOSED,
        Status.REOPENED,
    }
)


class Source(models.TextChoices):
    WEB = "web", _("Web form")
    OPEN311 = "open311", _("Open311 application")
    PHONE = "phone", _("By phone, recorded by staff")
    MEETING = "meeting", _("In person or at a meeting, recorded by staff")
    OTHER = "other", _("Other, recorded by staff")


ASSISTED_SOURCES = frozenset({Source.PHONE, Source.MEETING, Source.OTHER})


class Feedback(models.Model):
    # The tracking code: the sender's handle and the Open311 service_request_id.
    code = models.CharField(_("tracking code"), max_length=16, unique=True)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="+", verbose_name=_("category")
    )
    # Where it happened.
    commune = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="+", verbose_name=_("commune")
    )
    # Who must answer (routing, transfers).
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="+", verbose_name=_("responsible unit")
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    description = models.TextField(_("description"), max_length=DESCRIPTION_MAX)
    # Code, description and place folded (core.search.fold) for staff search with or without
    # diacritics; kept in step by the services that change those fields.
    search_text = models.TextField(_("search text"), blank=True, editable=False)
    address = models.CharField(_("place"), max_length=300, blank=True)
    lat = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    long = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    # Answers to the category's questions, by attribute code.
    attributes = models.JSONField(_("details"), default=dict, blank=True)
    source = models.CharField(_("received through"), max_length=16, choices=Source.choices)
    api_client = models.ForeignKey(
        "Open311Client",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("Open311 application"),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("recorded by"),
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("handler"),
    )
    # The Open311 token of a request made through the API (GET /tokens/{token}).
    token = models.CharField(_("Open311 token"), max_length=40, unique=True)
    received_at = models.DateTimeField(_("received at"), db_index=True)
    # The answer is due by the end of this day (Vietnam time), counted in working days.
    due_date = models.DateField(_("answer due"))
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    reject_reason = models.CharField(_("reason for rejecting"), max_length=500, blank=True)
    reminded_for = models.DateField(_("reminder sent for due date"), null=True, blank=True)
    # Merged duplicates point at the feedback that carries the shared answer.
    duplicate_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="duplicates",
        verbose_name=_("merged into"),
    )
    # The bulletin draft made from the public answer (radio, e-board), when chosen.
    bulletin = models.ForeignKey(
        "bulletins.Bulletin",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="feedback_items",
        verbose_name=_("bulletin"),
    )
    text_redacted_at = models.DateTimeField(_("text redacted at"), null=True, blank=True)
    personal_data_purged_at = models.DateTimeField(
        _("personal data purged at"), null=True, blank=True
    )

    policy_unit_field = "unit"

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        ordering = ["-received_at", "-id"]
        indexes = [
            models.Index(fields=["unit", "status"], name="feedback_unit_status_idx"),
            models.Index(fields=["status", "due_date"], name="feedback_due_idx"),
            models.Index(fields=["category", "commune", "received_at"], name="feedback_dup_idx"),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_public(self) -> bool:
        return self.status in PUBLIC_STATUSES and self.accepted_at is not None


class Contact(models.Model):
    """The sender's personal data, apart from the feedback, purged after the retention period."""

    feedback = models.OneToOneField(
        Feedback, on_delete=models.CASCADE, related_name="contact", verbose_name=_("feedback")
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    email = models.EmailField(_("e-mail"), max_length=254, blank=True)
    # Normalised forms for rate limits and for verifying a data export (digits only; lower case).
    phone_key = models.CharField(max_length=32, blank=True, db_index=True)
    email_key = models.CharField(max_length=254, blank=True, db_index=True)
    consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    # Open311 device_id, when an application sent one.
    device_id = models.CharField(_("device id"), max_length=100, blank=True)

    policy_unit_field = "feedback__unit"

    class Meta:
        verbose_name = _("sender's contact details")
        verbose_name_plural = _("senders' contact details")

    def __str__(self) -> str:
        return f"contact of {self.feedback_id}"

    @property
    def is_empty(self) -> bool:
        return not (self.name or self.phone or self.email or self.device_id)


def photo_path(instance: Photo, filename: str) -> str:
    # Named by random token, never by anything the sender chose; never under a public URL.
    month = f"{instance.feedback.received_at:%Y/%m}"
    return f"feedback/{month}/{instance.storage_name}.{instance.extension}"


class Photo(models.Model):
    feedback = models.ForeignKey(
        Feedback, on_delete=models.CASCADE, related_name="photos", verbose_name=_("feedback")
    )
    file = models.FileField(_("file"), upload_to=photo_path, max_length=200)
    storage_name = models.CharField(max_length=40)
    content_type = models.CharField(_("content type"), max_length=100)
    extension = models.CharField(_("extension"), max_length=8)
    size = models.PositiveIntegerField(_("size"))
    width = models.PositiveIntegerField(_("width"))
    height = models.PositiveIntegerField(_("height"))
    # The sender chose to keep the photo's location metadata (EXIF GPS); stripped otherwise.
    kept_location = models.BooleanField(_("location metadata kept"), default=False)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    redacted_at = models.DateTimeField(_("redacted at"), null=True, blank=True)
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    policy_unit_field = "feedback__unit"

    class Meta:
        verbose_name = _("photo")
        verbose_name_plural = _("photos")
        ordering = ["feedback", "position", "id"]

    def __str__(self) -> str:
        return f"{self.feedback_id}/{self.position}"


class EventKind(models.TextChoices):
    RECEIVED = "received", _("Received")
    ACCEPTED = "accepted", _("Accepted")
    ASSIGNED = "assigned", _("Handler assigned")
    TRANSFERRED = "transferred", _("Transferred")
    IN_PROGRESS = "in_progress", _("Work started")
    NOTE = "note", _("Internal note")
    ANSWER_SUBMITTED = "answer_submitted", _("Answer submitted for approval")
    ANSWER_RETURNED = "answer_returned", _("Answer returned for changes")
    ANSWERED = "answered", _("Answered")
    CLOSED = "closed", _("Closed")
    REJECTED = "rejected", _("Rejected as out of scope")
    REOPENED = "reopened", _("Reopened by the sender")
    MERGED = "merged", _("Merged as a duplicate")
    REDACTED = "redacted", _("Redacted")
    BULLETIN = "bulletin", _("Bulletin draft made from the answer")


# Events the sender and the public see on the status page (with their public text only).
PUBLIC_EVENTS = frozenset(
    {
        EventKind.RECEIVED,
        EventKind.ACCEPTED,
        EventKind.TRANSFERRED,
        EventKind.IN_PROGRESS,
        EventKind.ANSWERED,
        EventKind.CLOSED,
        EventKind.REJECTED,
        EventKind.REOPENED,
        EventKind.MERGED,
    }
)


class Event(models.Model):
    """One step in a feedback's history. `public_text` may be shown to anyone; `note` never."""

    feedback = models.ForeignKey(
        Feedback, on_delete=models.CASCADE, related_name="events", verbose_name=_("feedback")
    )
    kind = models.CharField(_("event"), max_length=20, choices=EventKind.choices)
    status = models.CharField(_("status after"), max_length=16, choices=Status.choices)
    from_unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    public_text = models.TextField(_("public text"), blank=True)
    note = models.TextField(_("internal note"), blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    created_at = models.DateTimeField(_("time"), db_index=True)

    policy_unit_field = "feedback__unit"

    class Meta:
        verbose_name = _("feedback event")
        verbose_name_plural = _("feedback events")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.feedback_id} {self.kind}"


class AnswerState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Waiting for approval")
    RETURNED = "returned", _("Returned for changes")
    PUBLISHED = "published", _("Published")


class Answer(models.Model):
    """The competent body's answer; its `published_text` is public (portal, Open311 notes)."""

    feedback = models.OneToOneField(
        Feedback, on_delete=models.CASCADE, related_name="answer", verbose_name=_("feedback")
    )
    text = models.TextField(_("answer"), max_length=8000)
    # What the public reads: copied from `text` when published, untouched while a reopened
    # feedback's new answer is drafted, so the previous answer stays public until replaced.
    published_text = models.TextField(_("published answer"), blank=True)
    state = models.CharField(
        _("state"), max_length=16, choices=AnswerState.choices, default=AnswerState.DRAFT
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("by")
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved by"),
    )
    return_comment = models.CharField(_("reason for returning"), max_length=500, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "feedback__unit"

    class Meta:
        verbose_name = _("answer")
        verbose_name_plural = _("answers")

    def __str__(self) -> str:
        return f"answer to {self.feedback_id}"


class UnitSettings(models.Model):
    """How one unit handles feedback (a unit without a row uses the defaults)."""

    unit = models.OneToOneField(
        Unit, on_delete=models.CASCADE, related_name="feedback_settings", verbose_name=_("unit")
    )
    answers_need_approval = models.BooleanField(
        _("answers need approval"),
        default=False,
        help_text=_("A leader (approver) must approve each answer before it is published."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "unit"

    class Meta:
        verbose_name = _("feedback settings")
        verbose_name_plural = _("feedback settings")

    def __str__(self) -> str:
        return f"feedback settings of {self.unit}"


class HolidayKind(models.TextChoices):
    HOLIDAY = "holiday", _("Day off")
    WORKING_DAY = "working_day", _("Working day (make-up)")


class Holiday(models.Model):
    """A day that breaks the Monday–Friday rule: a public holiday, or a make-up working Saturday.

    Seeded per year from the `holidays` package's Vietnamese calendar (lunar Tết and Hùng Kings'
    Day included); staff edit the list when the government announces bridge days.
    """

    date = models.DateField(_("date"), unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(
        _("kind"), max_length=16, choices=HolidayKind.choices, default=HolidayKind.HOLIDAY
    )
    # Seeded rows may be replaced by a later seed; edited ones are kept.
    edited = models.BooleanField(_("edited by staff"), default=False)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date} {self.name}"


class HolidayYear(models.Model):
    """A year whose holidays were seeded (seeding happens once per year; deletions stick)."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    seeded_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.year)


class Open311Client(models.Model):
    """An application allowed to POST through Open311. Only the key's SHA-256 is stored."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    prefix = models.CharField(_("key prefix"), max_length=16, unique=True)
    key_hash = models.CharField(_("key hash (SHA-256)"), max_length=64)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("Open311 application")
        verbose_name_plural = _("Open311 applications")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
