"""Bulletins (bản tin): what is written, who approved it, where it was relayed.

A bulletin belongs to one unit (its owner: a province, a commune, the nation). Its workflow lives in
`services.py`; its relay down the tree creates one `Delivery` per target commune, which is that
commune's inbox item and the origin's per-commune status line. Broadcasting (a later app) reads
deliveries and fills in "scheduled" and "aired".
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from thongtincoso.units.models import Unit

# Years a bulletin date may name. Outside them a date is a typo, and near year 1 or 9999 the
# conversion to UTC would overflow (a 500) instead of being refused.
MIN_YEAR = 2000
MAX_YEAR = 2099
# The largest id a path or list may carry: ids are 32-bit on every database we support, and a
# larger number must be a plain 404, not an overflow inside the database driver.
MAX_ID = 2**31 - 1


class Status(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted for approval")
    RETURNED = "returned", _("Returned for changes")
    APPROVED = "approved", _("Approved")
    PUBLISHED = "published", _("Published")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    EXPIRED = "expired", _("Expired")


class Priority(models.TextChoices):
    """Thông tư 39/2020's three levels; the order of the values is the airing order."""

    NORMAL = "normal", _("Normal")
    # "Priority" is also the name of the field; the level needs its own msgid (ưu tiên).
    PRIORITY = "priority", pgettext_lazy("priority level", "Priority")
    EMERGENCY = "emergency", _("Emergency")


PRIORITY_RANK = {Priority.EMERGENCY: 0, Priority.PRIORITY: 1, Priority.NORMAL: 2}


class Channel(models.TextChoices):
    RADIO = "radio", _("Commune radio")
    EBOARD = "eboard", _("E-board")
    PORTAL = "portal", _("Portal and feeds")
    SMS = "sms", _("SMS")
    SOCIAL = "social", _("Social media and chat apps")
    PRINT = "print", _("Printed bulletin")


class Category(models.Model):
    """A content category of essential information (configurable; seeded from the decree)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Language(models.Model):
    """A broadcast language: Vietnamese, plus the ethnic-minority languages a province uses."""

    code = models.CharField(_("code"), max_length=16, unique=True, help_text=_("BCP 47, e.g. vi"))
    name = models.CharField(_("name"), max_length=80)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("language")
        verbose_name_plural = _("languages")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EditorialSettings(models.Model):
    """Per-unit editorial rules; a unit without its own row inherits its nearest ancestor's."""

    unit = models.OneToOneField(
        Unit, on_delete=models.CASCADE, related_name="editorial_settings", verbose_name=_("unit")
    )
    four_eyes = models.BooleanField(
        _("four-eyes approval"),
        default=True,
        help_text=_("The author of a bulletin may not approve it."),
    )
    own_unit_approval = models.BooleanField(
        _("approval by the unit's own leadership"),
        default=False,
        help_text=_(
            "Only an approver appointed in this unit itself may approve its bulletins; "
            "approvers of the province above do not count."
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "unit"

    class Meta:
        verbose_name = _("editorial settings")
        verbose_name_plural = _("editorial settings")

    def __str__(self) -> str:
        return str(self.unit)


class Bulletin(models.Model):
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="bulletins", verbose_name=_("unit")
    )
    title = models.CharField(_("title"), max_length=300)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    # Sanitised HTML (services.sanitise_html); never stored unsanitised.
    body = models.TextField(_("body"), blank=True)
    # What the speech engine reads. Derived from the body until an editor changes it.
    reading_text = models.TextField(_("reading text"), blank=True)
    reading_text_edited = models.BooleanField(_("reading text edited by hand"), default=False)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="bulletins", verbose_name=_("category")
    )
    language = models.ForeignKey(
        Language, on_delete=models.PROTECT, related_name="bulletins", verbose_name=_("language")
    )
    channels = models.JSONField(_("channels"), default=list, blank=True)
    # Copy of "portal in channels": the public listing filters on it, and a JSON containment
    # lookup is neither portable to SQLite nor indexable.
    on_portal = models.BooleanField(_("on the portal"), default=True, editable=False)
    priority = models.CharField(
        _("priority"), max_length=16, choices=Priority.choices, default=Priority.NORMAL
    )
    valid_from = models.DateTimeField(_("valid from"))
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    targets = models.ManyToManyField(
        Unit, related_name="targeted_bulletins", blank=True, verbose_name=_("target units")
    )
    tags = models.ManyToManyField(Tag, related_name="bulletins", blank=True, verbose_name=_("tags"))
    # Where the information comes from: free text for a department ("Sở Y tế"), and for a local
    # adaptation of a relayed bulletin, the bulletin it was adapted from.
    source_note = models.CharField(_("source"), max_length=200, blank=True)
    origin = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="adaptations",
        verbose_name=_("adapted from"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True
    )
    # Optimistic locking: every save increments it; a save based on an older version is refused.
    version = models.PositiveIntegerField(_("version"), default=1)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="bulletins_authored",
        verbose_name=_("author"),
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bulletins_approved",
        verbose_name=_("approved by"),
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("withdrawn or expired at"), null=True, blank=True)
    end_reason = models.CharField(_("reason"), max_length=500, blank=True)
    relayed_at = models.DateTimeField(_("relayed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "unit"

    class Meta:
        verbose_name = _("bulletin")
        verbose_name_plural = _("bulletins")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The public portal: a unit's published bulletins, newest first.
            models.Index(
                fields=["unit", "status", "on_portal", "-published_at"], name="bulletin_public_idx"
            ),
            models.Index(fields=["status", "valid_until"], name="bulletin_expiry_idx"),
            models.Index(fields=["status", "valid_from"], name="bulletin_due_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_STATUSES


EDITABLE_STATUSES = frozenset({Status.DRAFT, Status.RETURNED})


class Revision(models.Model):
    """A saved state of a bulletin's content; one per save, never changed."""

    bulletin = models.ForeignKey(
        Bulletin, on_delete=models.CASCADE, related_name="revisions", verbose_name=_("bulletin")
    )
    number = models.PositiveIntegerField(_("number"))
    title = models.CharField(_("title"), max_length=300)
    summary = models.CharField(_("summary"), max_length=500, blank=True)
    body = models.TextField(_("body"), blank=True)
    reading_text = models.TextField(_("reading text"), blank=True)
    # Everything else that was set at the time (category, priority, channels, targets…).
    details = models.JSONField(_("details"), default=dict)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("saved by"),
    )
    created_at = models.DateTimeField(_("saved at"), auto_now_add=True)

    policy_unit_field = "bulletin__unit"

    class Meta:
        verbose_name = _("revision")
        verbose_name_plural = _("revisions")
        ordering = ["bulletin", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["bulletin", "number"], name="revision_number_unique")
        ]

    def __str__(self) -> str:
        return f"{self.bulletin_id} r{self.number}"


class ReviewState(models.TextChoices):
    PENDING = "pending", _("Waiting")
    APPROVED = "approved", _("Approved")
    RETURNED = "returned", _("Returned")
    CANCELLED = "cancelled", _("Cancelled")


class Review(models.Model):
    """One request for approval and its decision."""

    bulletin = models.ForeignKey(
        Bulletin, on_delete=models.CASCADE, related_name="reviews", verbose_name=_("bulletin")
    )
    state = models.CharField(
        _("state"), max_length=16, choices=ReviewState.choices, default=ReviewState.PENDING
    )
    revision = models.ForeignKey(
        Revision, on_delete=models.PROTECT, related_name="+", verbose_name=_("revision")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    comment = models.TextField(_("comment"), blank=True)

    policy_unit_field = "bulletin__unit"

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ["-requested_at", "-id"]
        constraints = [
            # At most one pending review per bulletin, enforced by the database itself.
            models.UniqueConstraint(
                fields=["bulletin"],
                condition=Q(state="pending"),
                name="review_one_pending_per_bulletin",
            )
        ]

    def __str__(self) -> str:
        return f"{self.bulletin_id} {self.state}"


class AttachmentKind(models.TextChoices):
    AUDIO = "audio", _("Audio")
    IMAGE = "image", _("Image")
    PDF = "pdf", _("PDF document")


def attachment_path(instance: Attachment, filename: str) -> str:
    # Named by content hash: no user-chosen names on disk, and identical files share nothing odd.
    return f"bulletins/{instance.sha256[:2]}/{instance.sha256}.{instance.extension}"


class Attachment(models.Model):
    bulletin = models.ForeignKey(
        Bulletin, on_delete=models.CASCADE, related_name="attachments", verbose_name=_("bulletin")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=AttachmentKind.choices)
    file = models.FileField(_("file"), upload_to=attachment_path, max_length=200)
    original_name = models.CharField(_("file name"), max_length=200)
    content_type = models.CharField(_("content type"), max_length=100)
    extension = models.CharField(_("extension"), max_length=8)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("uploaded by"),
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)

    policy_unit_field = "bulletin__unit"

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.original_name


class DeliveryStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    SCHEDULED = "scheduled", _("Scheduled")
    AIRED = "aired", _("Aired")


class Delivery(models.Model):
    """A relayed bulletin in one commune's inbox, and the origin's status line for that commune.

    TT 39: a normal item waits for the commune to accept or decline it; a priority item is accepted
    automatically and goes ahead of the commune's normal items; an emergency is accepted and handed
    to the emergency path at once (`emergency_at`, signal `emergency_relayed`).
    """

    bulletin = models.ForeignKey(
        Bulletin, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("bulletin")
    )
    commune = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="deliveries", verbose_name=_("commune")
    )
    # Zones of the commune the origin targeted; empty means the whole commune.
    zone_codes = models.JSONField(_("zones"), default=list, blank=True)
    priority = models.CharField(_("priority"), max_length=16, choices=Priority.choices)
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.RECEIVED
    )
    # The commune's own order among its priority items (lower airs first).
    position = models.PositiveIntegerField(_("order"), default=0)
    # When the commune wants to air a normal item ("chooses when"); broadcasting honours it.
    air_from = models.DateTimeField(_("air from"), null=True, blank=True)
    decline_reason = models.CharField(_("reason for declining"), max_length=500, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    emergency_at = models.DateTimeField(
        _("handed to emergency broadcast at"), null=True, blank=True
    )
    local_copy = models.ForeignKey(
        Bulletin,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("local adaptation"),
    )
    scheduled_at = models.DateTimeField(_("scheduled at"), null=True, blank=True)
    aired_at = models.DateTimeField(_("aired at"), null=True, blank=True)
    created_at = models.DateTimeField(_("received at"), auto_now_add=True)

    # The inbox belongs to the commune; the origin sees its lines through its own bulletin.
    policy_unit_field = "commune"

    class Meta:
        verbose_name = _("relayed bulletin")
        verbose_name_plural = _("relayed bulletins")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bulletin", "commune"], name="delivery_once_per_commune"
            )
        ]
        indexes = [models.Index(fields=["commune", "status"], name="delivery_inbox_idx")]

    def __str__(self) -> str:
        return f"{self.bulletin_id} → {self.commune_id}"
