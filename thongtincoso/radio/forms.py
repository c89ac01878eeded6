"""Forms of the radio pages. They check shapes and build values (an RRULE from checkboxes); the
services in slots.py, devices.py, emergencies.py and fleet.py check the rules."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .models import (
    BroadcastRules,
    CommandKind,
    Connectivity,
    DeviceKind,
    Enforcement,
    Filler,
    OverflowRule,
    ResumeRule,
)

# RFC 5545 day codes in Python weekday order (Monday 0 … Sunday 6).
BYDAY = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
WEEKDAY_CHOICES = [
    ("0", _("Mon")),
    ("1", _("Tue")),
    ("2", _("Wed")),
    ("3", _("Thu")),
    ("4", _("Fri")),
    ("5", _("Sat")),
    ("6", _("Sun")),
]
_SIMPLE_RRULE = re.compile(
    r"^FREQ=WEEKLY;BYDAY=((?:MO|TU|WE|TH|FR|SA|SU)(?:,(?:MO|TU|WE|TH|FR|SA|SU))*)$"
)


def rrule_from_weekdays(weekdays: list[int]) -> str:
    """ "FREQ=WEEKLY;BYDAY=MO,WE" for Monday and Wednesday."""
    return "FREQ=WEEKLY;BYDAY=" + ",".join(BYDAY[d] for d in sorted(set(weekdays)))


def weekdays_from_rrule(rrule: str) -> list[int] | None:
    """The weekdays of a plain weekly rule, or None when the rule is anything richer."""
    match = _SIMPLE_RRULE.match(rrule.strip().upper())
    if not match:
        return None
    return sorted({BYDAY.index(code) for code in match.group(1).split(",")})


SLOT_SERVICE_FIELDS = (
    "name",
    "rrule",
    "start_time",
    "duration_minutes",
    "starts_on",
    "ends_on",
    "confirm",
)


class CheckboxRow(forms.CheckboxSelectMultiple):
    """Checkboxes laid out on one line (the site's `.choice-list`)."""

    template_name = "radio/_checkbox_row.html"


class SlotForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120, initial=_("Session"))
    weekdays = forms.MultipleChoiceField(
        label=_("Days"), choices=WEEKDAY_CHOICES, widget=CheckboxRow, required=False
    )
    start_time = forms.TimeField(
        label=_("Starts at"), widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M")
    )
    duration_minutes = forms.IntegerField(
        label=_("Length (minutes)"), min_value=1, max_value=24 * 60, initial=30
    )
    starts_on = forms.DateField(
        label=_("First day"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    ends_on = forms.DateField(
        label=_("Last day"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    rrule = forms.CharField(
        label=_("Advanced: recurrence rule (RFC 5545)"),
        max_length=500,
        required=False,
        help_text=_("Leave empty to use the days above, e.g. FREQ=MONTHLY;BYMONTHDAY=1,15."),
    )
    confirm = forms.BooleanField(
        label=_("Save even if it goes beyond the broadcast rules"),
        required=False,
        help_text=_("Only where the rules warn instead of refusing."),
    )
    # Only when editing: a slot is created in use; pausing it keeps it without airing.
    is_active = forms.BooleanField(
        label=_("In use"),
        required=False,
        initial=True,
        help_text=_("Untick to pause the slot: its future sessions are removed from the plan."),
    )

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not editing:
            del self.fields["is_active"]
        if not self.is_bound and "starts_on" not in self.initial:
            self.initial["starts_on"] = timezone.localdate()

    @classmethod
    def initial_for(cls, slot: Any) -> dict[str, Any]:
        days = weekdays_from_rrule(slot.rrule)
        return {
            "name": slot.name,
            "weekdays": [str(d) for d in days] if days is not None else [],
            "rrule": "" if days is not None else slot.rrule,
            "start_time": slot.start_time,
            "duration_minutes": slot.duration_minutes,
            "starts_on": slot.starts_on,
            "ends_on": slot.ends_on,
            "is_active": slot.is_active,
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        advanced = (data.get("rrule") or "").strip()
        if advanced.upper().startswith("RRULE:"):
            advanced = advanced[6:]
        if advanced:
            data["rrule"] = advanced
        elif data.get("weekdays"):
            data["rrule"] = rrule_from_weekdays([int(d) for d in data["weekdays"]])
        elif "weekdays" in data:
            self.add_error("weekdays", _("Tick at least one day, or write a recurrence rule."))
        starts, ends = data.get("starts_on"), data.get("ends_on")
        if starts and ends and ends < starts:
            self.add_error("ends_on", _("The last day cannot be before the first day."))
        return data

    def service_fields(self) -> dict[str, Any]:
        keys = (
            "name",
            "rrule",
            "start_time",
            "duration_minutes",
            "starts_on",
            "ends_on",
            "confirm",
            *(("is_active",) if "is_active" in self.fields else ()),
        )
        return {k: self.cleaned_data.get(k) for k in keys}


class StationForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    overflow_rule = forms.ChoiceField(
        label=_("When items overflow a session"), choices=OverflowRule.choices
    )
    resume_rule = forms.ChoiceField(label=_("After an emergency"), choices=ResumeRule.choices)
    filler = forms.ChoiceField(label=_("Rest of a session"), choices=Filler.choices)
    volume = forms.IntegerField(label=_("Volume (%)"), min_value=0, max_value=100)
    # Not a station field: the view passes it to slots.station_filler_upload first.
    filler_file = forms.FileField(
        label=_("Filler audio (music or jingle)"),
        required=False,
        help_text=_("MP3, WAV, Ogg or similar; it is brought to the station's loudness."),
    )

    @classmethod
    def initial_for(cls, station: Any) -> dict[str, Any]:
        return {k: getattr(station, k) for k in cls.base_fields if k != "filler_file"}


class BroadcastRulesForm(forms.ModelForm):
    """Shape only: the view passes cleaned_data to broadcast_rules_update (never .save())."""

    weekdays = forms.TypedMultipleChoiceField(
        label=_("Allowed weekdays"), choices=WEEKDAY_CHOICES, coerce=int, widget=CheckboxRow
    )
    enforcement = forms.ChoiceField(
        label=_("When a slot breaks a rule"), choices=Enforcement.choices
    )

    class Meta:
        model = BroadcastRules
        fields = [
            "max_sessions_per_day",
            "max_session_minutes",
            "weekdays",
            "quiet_start",
            "quiet_end",
            "enforcement",
            "offline_after_seconds",
            "alert_after_minutes",
            "poll_interval_seconds",
            "province_emergency_confirmation",
        ]
        widgets = {
            "quiet_start": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "quiet_end": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance is not None:
            self.initial["weekdays"] = [str(d) for d in (self.instance.weekdays or [])]

    def validate_unique(self) -> None:
        # The field validators run (model limits, as messages on the fields), but not the unique
        # check on `unit`: the service decides whether the unit's row is created or updated.
        pass


class QueueMoveForm(forms.Form):
    """Up/down buttons without JavaScript: move one bulletin one place."""

    bulletin = forms.IntegerField(min_value=1)
    direction = forms.ChoiceField(choices=[("up", "up"), ("down", "down")])


def parse_order(values: list[str]) -> list[int] | None:
    """Bulletin ids from `order=1&order=2` or `order=1,2`; None when anything is not an id."""
    ids: list[int] = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            if not (part.isascii() and part.isdigit()) or len(part) > 18:
                return None
            ids.append(int(part))
    return ids if ids and len(ids) == len(set(ids)) else None


class EmergencyForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=300)
    targets = forms.MultipleChoiceField(
        label=_("Where"), widget=forms.CheckboxSelectMultiple, choices=[]
    )
    source = forms.ChoiceField(
        label=_("What to play"),
        widget=forms.RadioSelect,
        choices=[
            ("speech", _("Read a text")),
            ("recording", _("An audio file")),
            ("bulletin", _("An emergency bulletin")),
        ],
        initial="speech",
    )
    text = forms.CharField(
        label=_("Text to read"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    audio = forms.FileField(label=_("Audio file"), required=False)
    bulletin = forms.TypedChoiceField(
        label=_("Emergency bulletin"), required=False, coerce=int, empty_value=None, choices=[]
    )
    repeat_count = forms.IntegerField(
        label=_("Times to play"), min_value=1, max_value=20, initial=3
    )
    interval_seconds = forms.IntegerField(
        label=_("Pause between repetitions (seconds)"), min_value=0, max_value=3600, initial=60
    )

    def __init__(
        self,
        *args: Any,
        target_choices: list[tuple[str, str]],
        bulletin_choices: list[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        targets = self.fields["targets"]
        assert isinstance(targets, forms.MultipleChoiceField)
        targets.choices = target_choices
        bulletin = self.fields["bulletin"]
        assert isinstance(bulletin, forms.TypedChoiceField)
        bulletin.choices = [("", "—"), *bulletin_choices]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        source = data.get("source")
        if source == "speech" and not (data.get("text") or "").strip():
            self.add_error("text", _("Write the text to read."))
        elif source == "recording" and not data.get("audio"):
            self.add_error("audio", _("Choose an audio file."))
        elif source == "bulletin" and not data.get("bulletin"):
            self.add_error("bulletin", _("Choose an emergency bulletin."))
        return data


class ReasonForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=500, required=False)


class DeviceForm(forms.Form):
    code = forms.SlugField(
        label=_("Code"),
        max_length=40,
        help_text=_("Letters, digits and dashes, unique in the country, e.g. HK-LOA-01."),
    )
    kind = forms.ChoiceField(label=_("Kind"), choices=DeviceKind.choices)
    commune = forms.ChoiceField(label=_("Commune"), choices=[])
    zone = forms.ChoiceField(label=_("Zone"), choices=[], required=False)
    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    latitude = forms.DecimalField(
        label=_("Latitude"),
        required=False,
        max_digits=9,
        decimal_places=6,
        min_value=-90,
        max_value=90,
    )
    longitude = forms.DecimalField(
        label=_("Longitude"),
        required=False,
        max_digits=9,
        decimal_places=6,
        min_value=-180,
        max_value=180,
    )
    connectivity = forms.ChoiceField(label=_("Connectivity"), choices=Connectivity.choices)
    speakers = forms.IntegerField(label=_("Speakers"), min_value=0, max_value=1000, initial=0)
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(
        self,
        *args: Any,
        communes: list[tuple[str, str]],
        zones: list[tuple[str, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        commune = self.fields["commune"]
        assert isinstance(commune, forms.ChoiceField)
        commune.choices = communes
        zone = self.fields["zone"]
        assert isinstance(zone, forms.ChoiceField)
        zone.choices = [("", _("The whole commune")), *zones]


class DeviceFilterForm(forms.Form):
    commune = forms.ChoiceField(label=_("Commune"), required=False, choices=[])
    kind = forms.ChoiceField(
        label=_("Kind"), required=False, choices=[("", _("All")), *DeviceKind.choices]
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[
            ("", _("All")),
            ("online", _("Online")),
            ("offline", _("Offline")),
            ("never", _("Never connected")),
            ("revoked", _("Revoked")),
        ],
    )

    def __init__(self, *args: Any, communes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        commune = self.fields["commune"]
        assert isinstance(commune, forms.ChoiceField)
        commune.choices = [("", _("All")), *communes]


class CommandForm(forms.Form):
    kind = forms.ChoiceField(label=_("Command"), choices=CommandKind.choices)
    volume = forms.IntegerField(label=_("Volume (%)"), min_value=0, max_value=100, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("kind") == CommandKind.VOLUME and data.get("volume") is None:
            self.add_error("volume", _("Give the volume to set."))
        return data

    def params(self) -> dict[str, Any]:
        if self.cleaned_data["kind"] == CommandKind.VOLUME:
            return {"level": self.cleaned_data["volume"]}
        return {}


class ReportForm(forms.Form):
    date_from = forms.DateField(
        label=_("From"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=_("To"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end:
            if end < start:
                self.add_error("date_to", _("The end cannot be before the start."))
            elif end - start > dt.timedelta(days=366):
                self.add_error("date_to", _("Choose at most one year."))
        return data
