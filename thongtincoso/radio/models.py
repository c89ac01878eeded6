"""Commune radio: stations, their broadcast slots and plan, emergencies, devices, proof of play.

The shape (docs/radio.md):
- a commune has one `Station`; its `Slot`s recur by RFC 5545 rules in local time;
- the planner fills each slot occurrence with `Airing`s (materialised, so the past is history and
  the future is what every device's manifest says);
- an `Emergency` overlays the plan on the devices it targets, pre-empting what plays;
- a `Device` (loudspeaker cluster or e-board) enrols once, then pulls its manifest, reports
  heartbeats and `PlayEvent`s; `AiringResult` reconciles the two (played, partial, missed,
  pre-empted) and keeps the title and audio hash when the bulletin is later deleted.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from thongtincoso.bulletins.models import Priority
from thongtincoso.units.models import Unit

DEFAULT_VOLUME = 80


def _all_weekdays() -> list[int]:
    return [0, 1, 2, 3, 4, 5, 6]


class OverflowRule(models.TextChoices):
    CARRY = "carry", _("Carry over to the next session")
    DROP = "drop", _("Drop what does not fit")


class ResumeRule(models.TextChoices):
    RESTART = "restart", _("Restart the interrupted item after the emergency")
    SKIP = "skip", _("Skip the interrupted item")


class Filler(models.TextChoices):
    SILENCE = "silence", _("Silence")
    AUDIO = "audio", _("Music or jingle")


class Station(models.Model):
    """A commune's radio station (đài truyền thanh cấp xã)."""

    unit = models.OneToOneField(
        Unit, on_delete=models.CASCADE, related_name="station", verbose_name=_("commune")
    )
    name = models.CharField(_("name"), max_length=200)
    overflow_rule = models.CharField(
        _("when items overflow a session"),
        max_length=8,
        choices=OverflowRule.choices,
        default=OverflowRule.CARRY,
    )
    resume_rule = models.CharField(
        _("after an emergency"),
        max_length=8,
        choices=ResumeRule.choices,
        default=ResumeRule.RESTART,
    )
    filler = models.CharField(
        _("rest of a session"), max_length=8, choices=Filler.choices, default=Filler.SILENCE
    )
    filler_asset = models.ForeignKey(
        "speech.AudioAsset",
        verbose_name=_("filler audio"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    volume = models.PositiveSmallIntegerField(
        _("volume (%)"), default=DEFAULT_VOLUME, validators=[MaxValueValidator(100)]
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "unit"

    class Meta:
        verbose_name = _("station")
        verbose_name_plural = _("stations")
        ordering = ["unit__path"]

    def __str__(self) -> str:
        return self.name


class Enforcement(models.TextChoices):
    WARN = "warn", _("Warn")
    REFUSE = "refuse", _("Refuse")


class BroadcastRules(models.Model):
    """Per-unit broadcast rules; a unit without its own row inherits its nearest ancestor's."""

    unit = models.OneToOneField(
        Unit, on_delete=models.CASCADE, related_name="broadcast_rules", verbose_name=_("unit")
    )
    max_sessions_per_day = models.PositiveSmallIntegerField(
        _("sessions a day (at most)"), default=3, validators=[MinValueValidator(1)]
    )
    max_session_minutes = models.PositiveSmallIntegerField(
        _("minutes a session (at most)"),
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 60)],
    )
    # Python weekday numbers (Monday 0 … Sunday 6).
    weekdays = models.JSONField(_("allowed weekdays"), default=_all_weekdays)
    quiet_start = models.TimeField(_("quiet hours from"), null=True, blank=True)
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    enforcement = models.CharField(
        _("when a slot breaks a rule"),
        max_length=8,
        choices=Enforcement.choices,
        default=Enforcement.REFUSE,
    )
    offline_after_seconds = models.PositiveIntegerField(
        _("offline after (seconds without heartbeat)"),
        default=300,
        validators=[MinValueValidator(30)],
    )
    alert_after_minutes = models.PositiveIntegerField(
        _("alert after offline for (minutes)"), default=30, validators=[MinValueValidator(1)]
    )
    poll_interval_seconds = models.PositiveIntegerField(
        _("recommended poll interval (seconds)"),
        default=60,
        validators=[MinValueValidator(2), MaxValueValidator(3600)],
    )
    province_emergency_confirmation = models.BooleanField(
        _("a second person confirms a province-wide emergency"), default=True
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "unit"

    class Meta:
        verbose_name = _("broadcast rules")
        verbose_name_plural = _("broadcast rules")

    def __str__(self) -> str:
        return str(self.unit)


class Slot(models.Model):
    """A recurring broadcast session: a local start time, a length, an RFC 5545 rule."""

    station = models.ForeignKey(
        Station, on_delete=models.CASCADE, related_name="slots", verbose_name=_("station")
    )
    name = models.CharField(_("name"), max_length=120)
    # The RRULE body without "RRULE:", e.g. "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR". Time of day
    # comes from start_time, in Asia/Ho_Chi_Minh (settings.TIME_ZONE).
    rrule = models.CharField(_("recurrence (RFC 5545)"), max_length=500)
    start_time = models.TimeField(_("starts at"))
    duration_minutes = models.PositiveSmallIntegerField(
        _("length (minutes)"), validators=[MinValueValidator(1), MaxValueValidator(24 * 60)]
    )
    starts_on = models.DateField(_("first day"))
    ends_on = models.DateField(_("last day"), null=True, blank=True)
    is_active = models.BooleanField(_("in use"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "station__unit"

    class Meta:
        verbose_name = _("broadcast slot")
        verbose_name_plural = _("broadcast slots")
        ordering = ["station", "start_time", "id"]

    def __str__(self) -> str:
        return f"{self.name} {self.start_time:%H:%M}"


class QueueOrder(models.Model):
    """The commune's own order among items of the same priority (drag to reorder)."""

    station = models.ForeignKey(
        Station, on_delete=models.CASCADE, related_name="queue_order", verbose_name=_("station")
    )
    bulletin = models.ForeignKey(
        "bulletins.Bulletin",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("bulletin"),
    )
    position = models.PositiveIntegerField(_("order"))

    policy_unit_field = "station__unit"

    class Meta:
        verbose_name = _("queue order")
        verbose_name_plural = _("queue order")
        constraints = [
            models.UniqueConstraint(fields=["station", "bulletin"], name="queue_order_unique")
        ]

    def __str__(self) -> str:
        return f"{self.bulletin_id}@{self.position}"


class AiringKind(models.TextChoices):
    BULLETIN = "bulletin", _("Bulletin")
    FILLER = "filler", _("Filler")


class Airing(models.Model):
    """One planned item in one occurrence of a slot.

    The planner replaces future airings when anything they depend on changes; airings that have
    started are history and never change. Title, priority and audio are copied, so the record of
    what aired survives the bulletin's or the audio's deletion.
    """

    station = models.ForeignKey(
        Station, on_delete=models.CASCADE, related_name="airings", verbose_name=_("station")
    )
    slot = models.ForeignKey(
        Slot,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="airings",
        verbose_name=_("slot"),
    )
    # Stable across re-planning: "<slot id>:<local date>:<bulletin id or 'filler'>". Devices
    # report it back in play events.
    key = models.CharField(_("key"), max_length=120)
    occurrence_start = models.DateTimeField(_("session starts"))
    occurrence_end = models.DateTimeField(_("session ends"))
    starts_at = models.DateTimeField(_("starts"))
    ends_at = models.DateTimeField(_("ends"))
    position = models.PositiveSmallIntegerField(_("position in session"), default=0)
    kind = models.CharField(_("kind"), max_length=8, choices=AiringKind.choices)
    bulletin = models.ForeignKey(
        "bulletins.Bulletin",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="airings",
        verbose_name=_("bulletin"),
    )
    delivery = models.ForeignKey(
        "bulletins.Delivery",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="airings",
        verbose_name=_("relayed bulletin"),
    )
    title = models.CharField(_("title"), max_length=300)
    priority = models.CharField(
        _("priority"), max_length=16, choices=Priority.choices, default=Priority.NORMAL
    )
    audio_sha256 = models.CharField(_("audio SHA-256"), max_length=64)
    audio_size = models.PositiveBigIntegerField(_("audio size (bytes)"), default=0)
    audio_duration = models.FloatField(_("audio length (seconds)"), default=0)
    # Zones of the commune it is for; empty means every device of the commune.
    zone_codes = models.JSONField(_("zones"), default=list, blank=True)
    created_at = models.DateTimeField(_("planned at"), auto_now_add=True)

    policy_unit_field = "station__unit"

    class Meta:
        verbose_name = _("airing")
        verbose_name_plural = _("airings")
        ordering = ["starts_at", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["station", "key"], name="airing_key_unique")]
        indexes = [models.Index(fields=["station", "starts_at"], name="airing_station_time_idx")]

    def __str__(self) -> str:
        return f"{self.key} {self.title}"


class EmergencyState(models.TextChoices):
    AWAITING_CONFIRMATION = "awaiting", _("Awaiting confirmation")
    ACTIVE = "active", _("On air")
    STOPPED = "stopped", _("Stopped by an operator")
    FINISHED = "finished", _("Finished")
    CANCELLED = "cancelled", _("Cancelled before airing")


class EmergencySource(models.TextChoices):
    BULLETIN = "bulletin", _("Emergency bulletin")
    SPEECH = "speech", _("Text to speech")
    RECORDING = "recording", _("Recorded or uploaded audio")


class Emergency(models.Model):
    """An emergency broadcast: pre-empts the targeted devices at once, repeats, can be stopped."""

    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="emergencies", verbose_name=_("unit")
    )
    source = models.CharField(_("source"), max_length=12, choices=EmergencySource.choices)
    bulletin = models.ForeignKey(
        "bulletins.Bulletin",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="emergencies",
        verbose_name=_("bulletin"),
    )
    title = models.CharField(_("title"), max_length=300)
    text = models.TextField(_("text read"), blank=True)
    asset = models.ForeignKey(
        "speech.AudioAsset",
        verbose_name=_("audio"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    audio_sha256 = models.CharField(_("audio SHA-256"), max_length=64)
    audio_size = models.PositiveBigIntegerField(_("audio size (bytes)"), default=0)
    audio_duration = models.FloatField(_("audio length (seconds)"), default=0)
    targets = models.ManyToManyField(
        Unit, related_name="+", verbose_name=_("zones, communes or provinces")
    )
    repeat_count = models.PositiveSmallIntegerField(
        _("times to play"), default=3, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    interval_seconds = models.PositiveIntegerField(
        _("pause between repetitions (seconds)"),
        default=60,
        validators=[MaxValueValidator(3600)],
    )
    state = models.CharField(
        _("state"), max_length=12, choices=EmergencyState.choices, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("confirmed by"),
    )
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    # started_at + repeats × length + pauses; stopped_at cuts it short.
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("stopped by"),
    )
    stopped_at = models.DateTimeField(_("stopped at"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=500, blank=True)

    policy_unit_field = "unit"

    class Meta:
        verbose_name = _("emergency broadcast")
        verbose_name_plural = _("emergency broadcasts")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["state", "ends_at"], name="emergency_live_idx")]

    def __str__(self) -> str:
        return self.title


class DeviceKind(models.TextChoices):
    CLUSTER = "cluster", _("Loudspeaker cluster")
    EBOARD = "eboard", _("E-board")


class Connectivity(models.TextChoices):
    CELLULAR = "4g", pgettext_lazy("connectivity", "4G")
    WIFI = "wifi", pgettext_lazy("connectivity", "Wi-Fi")
    LAN = "lan", pgettext_lazy("connectivity", "LAN")


class Device(models.Model):
    """A loudspeaker cluster (cụm loa) or an e-board (bảng tin điện tử) of one commune."""

    code = models.CharField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=DeviceKind.choices)
    commune = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="devices", verbose_name=_("commune")
    )
    zone = models.ForeignKey(
        Unit,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="zone_devices",
        verbose_name=_("zone"),
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    latitude = models.DecimalField(
        _("latitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-90), MaxValueValidator(90)],
    )
    longitude = models.DecimalField(
        _("longitude"),
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[MinValueValidator(-180), MaxValueValidator(180)],
    )
    connectivity = models.CharField(
        _("connectivity"), max_length=8, choices=Connectivity.choices, default=Connectivity.CELLULAR
    )
    speakers = models.PositiveSmallIntegerField(_("speakers"), default=0)
    notes = models.TextField(_("notes"), blank=True)
    # Operator-set volume; empty follows the station's.
    volume = models.PositiveSmallIntegerField(
        _("volume (%)"), null=True, blank=True, validators=[MaxValueValidator(100)]
    )

    # Credentials: only SHA-256 digests are stored (the secrets are long and random, so a plain
    # hash is as strong as a slow one and lets the poll path look a device up in one index hit).
    credential_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    credential_issued_at = models.DateTimeField(_("credential issued at"), null=True, blank=True)
    enrolment_code_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    enrolment_expires_at = models.DateTimeField(
        _("enrolment code valid until"), null=True, blank=True
    )
    enrolled_at = models.DateTimeField(_("enrolled at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    # Health, from heartbeats.
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True, db_index=True)
    last_heartbeat = models.JSONField(_("last heartbeat"), default=dict, blank=True)
    reported_volume = models.PositiveSmallIntegerField(_("reported volume"), null=True, blank=True)
    firmware = models.CharField(_("firmware"), max_length=100, blank=True)
    free_storage_mb = models.PositiveIntegerField(_("free storage (MB)"), null=True, blank=True)
    clock_offset_ms = models.IntegerField(_("clock offset (ms)"), null=True, blank=True)
    current_item = models.CharField(_("playing"), max_length=120, blank=True)
    fault_count = models.PositiveIntegerField(_("faults"), default=0)
    last_fault = models.CharField(_("last fault"), max_length=300, blank=True)
    last_fault_at = models.DateTimeField(_("last fault at"), null=True, blank=True)
    offline_alerted_at = models.DateTimeField(_("offline alert sent"), null=True, blank=True)

    # The rendered manifest (see manifests.py): its ETag, when it was written.
    manifest_etag = models.CharField(max_length=80, blank=True)
    manifest_rendered_at = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    policy_unit_field = "commune"

    class Meta:
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        ordering = ["commune__path", "code"]
        indexes = [models.Index(fields=["commune", "kind"], name="device_commune_idx")]

    def __str__(self) -> str:
        return self.code

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class CommandKind(models.TextChoices):
    SYNC = "sync", _("Sync now")
    VOLUME = "volume", _("Set volume")
    STOP = "stop", _("Stop playing")
    TEST_TONE = "test_tone", _("Play a test tone")


class CommandState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    FAILED = "failed", _("Failed on the device")
    EXPIRED = "expired", _("Expired")


class DeviceCommand(models.Model):
    """A remote command, carried in the device's manifest until the device acknowledges it."""

    device = models.ForeignKey(
        Device, on_delete=models.CASCADE, related_name="commands", verbose_name=_("device")
    )
    kind = models.CharField(_("command"), max_length=12, choices=CommandKind.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    state = models.CharField(
        _("state"), max_length=12, choices=CommandState.choices, default=CommandState.QUEUED
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("sent by"),
    )
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    acked_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    result = models.CharField(_("result"), max_length=300, blank=True)

    policy_unit_field = "device__commune"

    class Meta:
        verbose_name = _("device command")
        verbose_name_plural = _("device commands")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["device", "state"], name="command_pending_idx")]

    def __str__(self) -> str:
        return f"{self.kind} → {self.device_id}"


class PlayOutcome(models.TextChoices):
    COMPLETED = "completed", _("Played to the end")
    PARTIAL = "partial", _("Played in part")
    PREEMPTED = "preempted", _("Pre-empted")
    FAILED = "failed", _("Failed")


class PlayEvent(models.Model):
    """What a device says it played. Idempotent by (device, event_id); never edited."""

    device = models.ForeignKey(
        Device,
        on_delete=models.SET_NULL,
        null=True,
        related_name="play_events",
        verbose_name=_("device"),
    )
    device_code = models.CharField(_("device code"), max_length=40)
    event_id = models.CharField(_("event id"), max_length=64)
    item_key = models.CharField(_("item"), max_length=120)
    title = models.CharField(_("title"), max_length=300, blank=True)
    audio_sha256 = models.CharField(_("audio SHA-256"), max_length=64, blank=True)
    started_at = models.DateTimeField(_("started"))
    ended_at = models.DateTimeField(_("ended"))
    played_seconds = models.FloatField(_("seconds played"))
    outcome = models.CharField(_("outcome"), max_length=12, choices=PlayOutcome.choices)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)

    policy_unit_field = "device__commune"

    class Meta:
        verbose_name = _("play event")
        verbose_name_plural = _("play events")
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["device_code", "event_id"], name="play_event_once_per_device"
            )
        ]
        indexes = [models.Index(fields=["item_key"], name="play_event_item_idx")]

    def __str__(self) -> str:
        return f"{self.device_code}:{self.event_id}"


class AiringStatus(models.TextChoices):
    PLAYED = "played", _("Played")
    PARTIAL = "partial", _("Played in part")
    MISSED = "missed", _("Missed")
    PREEMPTED = "preempted", _("Pre-empted")


class AiringResult(models.Model):
    """Proof of play: one airing on one device, reconciled from its play events."""

    airing = models.ForeignKey(
        Airing, on_delete=models.CASCADE, related_name="results", verbose_name=_("airing")
    )
    device = models.ForeignKey(
        Device,
        on_delete=models.SET_NULL,
        null=True,
        related_name="airing_results",
        verbose_name=_("device"),
    )
    device_code = models.CharField(_("device code"), max_length=40)
    status = models.CharField(_("status"), max_length=12, choices=AiringStatus.choices)
    played_seconds = models.FloatField(_("seconds played"), default=0)
    reconciled_at = models.DateTimeField(_("reconciled at"), auto_now=True)

    policy_unit_field = "airing__station__unit"

    class Meta:
        verbose_name = _("airing result")
        verbose_name_plural = _("airing results")
        constraints = [
            models.UniqueConstraint(
                fields=["airing", "device_code"], name="airing_result_once_per_device"
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="airing_result_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.airing_id} {self.device_code} {self.status}"
