"""Forms of the bulletin pages. They parse input; the services apply the rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django_prose_editor.fields import ProseEditorFormField
from django_prose_editor.widgets import ProseEditorWidget

from thongtincoso.units.models import Unit

from .models import (
    MAX_YEAR,
    MIN_YEAR,
    Category,
    Channel,
    DeliveryStatus,
    Language,
    Priority,
    Status,
)

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"

# The bulletin body editor's toolbar: exactly what content.ALLOWED_TAGS keeps (no images, colours,
# alignment or code). Links only to the schemes content.ALLOWED_URL_SCHEMES accepts.
BODY_EDITOR_EXTENSIONS: dict[str, Any] = {
    "Heading": {"levels": [2, 3, 4]},
    "Bold": True,
    "Italic": True,
    "Underline": True,
    "Strike": True,
    "Subscript": True,
    "Superscript": True,
    "Blockquote": True,
    "BulletList": True,
    "OrderedList": True,
    "ListItem": True,
    "Link": {"enableTarget": False, "protocols": ["http", "https", "mailto", "tel"]},
    "Table": True,
    "TableRow": True,
    "TableHeader": True,
    "TableCell": True,
    "HorizontalRule": True,
    "HardBreak": True,
}


def _plausible_year(value: dt.datetime) -> None:
    # Near year 1 the conversion to UTC overflows (a 500); outside these years a date is a typo.
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValidationError(
            _("Enter a date between the years %(first)d and %(last)d."),
            params={"first": MIN_YEAR, "last": MAX_YEAR},
        )


def _datetime_field(label: Any, *, help_text: Any = "") -> forms.DateTimeField:
    # datetime-local sends "2026-04-20T07:30"; Django reads it in the current time zone
    # (Asia/Ho_Chi_Minh) and shows stored values in it.
    return forms.DateTimeField(
        label=label,
        required=False,
        help_text=help_text,
        input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format=DATETIME_FORMAT),
        validators=[_plausible_year],
        error_messages={"invalid": _("Enter a date and time, e.g. 20/04/2026 07:30.")},
    )


def _choices_with_blank(choices: Any, blank: Any) -> list[tuple[str, Any]]:
    return [("", blank), *[(str(v), label) for v, label in choices]]


class BulletinFilterForm(forms.Form):
    """The filters of the bulletin list; a bad value is reported and that filter ignored."""

    q = forms.CharField(label=_("Search"), required=False, max_length=100)
    status = forms.ChoiceField(label=_("Status"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    priority = forms.ChoiceField(label=_("Priority"), required=False)
    source = forms.ChoiceField(label=_("Source"), required=False)
    unit = forms.CharField(label=_("Unit code"), required=False, max_length=32)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["status"].choices = _choices_with_blank(Status.choices, _("All"))
        fields["category"].choices = _choices_with_blank(
            Category.objects.values_list("code", "name"), _("All")
        )
        fields["priority"].choices = _choices_with_blank(Priority.choices, _("All"))
        fields["source"].choices = [
            ("", _("All")),
            ("own", _("Written here")),
            ("adapted", _("Adapted from a relayed bulletin")),
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The start date must not be after the end date."))
        return data


class BulletinForm(forms.Form):
    """Writing a bulletin. `version` is the one the editor loaded (optimistic locking)."""

    version = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    title = forms.CharField(label=_("Title"), max_length=300)
    summary = forms.CharField(
        label=_("Summary"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One or two sentences; sent as the SMS and shown on e-boards."),
    )
    # A WYSIWYG editor (django-prose-editor, served from our own static files) writing into the
    # textarea it replaces; its extensions produce only what content.ALLOWED_TAGS keeps. The
    # services' sanitiser is the only one: the editor's own allowlist (sanitize=True) differs from
    # ours (it drops <b>, <i>, th scope), so a post without the editor would lose what we keep.
    body = ProseEditorFormField(
        label=_("Body"),
        required=False,
        widget=ProseEditorWidget(attrs={"rows": 12}),
        extensions=BODY_EDITOR_EXTENSIONS,
        help_text=_(
            "Headings, bold, italic, lists, links and tables from the toolbar are kept; "
            "anything else is removed when you save."
        ),
    )
    reading_text = forms.CharField(
        label=_("Reading text"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("What the loudspeakers read. Leave empty to read the body."),
    )
    category = forms.ChoiceField(label=_("Category"))
    language = forms.ChoiceField(label=_("Language"))
    channels = forms.MultipleChoiceField(
        label=_("Channels"),
        choices=Channel.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one channel.")},
    )
    priority = forms.ChoiceField(
        label=_("Priority"),
        choices=Priority.choices,
        help_text=_(
            "Circular 39/2020: priority bulletins are aired by the communes ahead of their "
            "own; emergencies at once."
        ),
    )
    valid_from = _datetime_field(_("Valid from"), help_text=_("Empty: from the approval."))
    valid_until = _datetime_field(_("Valid until"), help_text=_("Empty: no end."))
    targets = forms.MultipleChoiceField(
        label=_("Target units"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Empty: the whole unit. Communes chosen here receive the bulletin."),
    )
    tags = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=600,
        help_text=_("Separated by commas, e.g. health, vaccination"),
    )
    source_note = forms.CharField(
        label=_("Source"),
        required=False,
        max_length=200,
        help_text=_("Where the information comes from, e.g. the Department of Health."),
    )

    def __init__(
        self, *args: Any, unit: Unit, current_targets: Iterable[Unit] = (), **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["category"].choices = _choices_with_blank(
            Category.objects.filter(is_active=True).values_list("code", "name"),
            _("Choose a category"),
        )
        fields["language"].choices = list(
            Language.objects.filter(is_active=True).values_list("code", "name")
        )
        fields["targets"].choices = target_choices(unit, current_targets)

    def clean_tags(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        return [t.strip() for t in raw.split(",") if t.strip()]

    def service_fields(self) -> dict[str, Any]:
        """cleaned_data as the bulletin services take it."""
        data = dict(self.cleaned_data)
        data.pop("version", None)
        return data


def target_choices(unit: Unit, current: Iterable[Unit] = ()) -> list[tuple[str, str]]:
    """The unit itself, the units right below it (communes, or a commune's zones), and any
    target already chosen further down."""
    units: dict[str, Unit] = {unit.code: unit}
    for child in unit.children.current().order_by("code"):
        units.setdefault(child.code, child)
    for target in current:
        units.setdefault(target.code, target)
    return [(code, f"{u.name} ({code})") for code, u in units.items()]


class AttachmentForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        help_text=_("Images, PDF documents or audio; the file's content decides its type."),
    )


class InboxFilterForm(forms.Form):
    commune = forms.ChoiceField(label=_("Commune"), required=False)
    status = forms.ChoiceField(label=_("Status"), required=False)

    def __init__(self, *args: Any, communes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["commune"].choices = [("", _("All communes")), *communes]
        fields["status"].choices = _choices_with_blank(DeliveryStatus.choices, _("All"))


class AcceptForm(forms.Form):
    air_from = _datetime_field(_("Air from"), help_text=_("Empty: as soon as possible."))


class DeclineForm(forms.Form):
    reason = forms.CharField(label=_("Reason for declining"), max_length=500)


class EditorialSettingsForm(forms.Form):
    four_eyes = forms.BooleanField(
        label=_("Four-eyes approval"),
        required=False,
        help_text=_("The author of a bulletin may not approve it."),
    )
    own_unit_approval = forms.BooleanField(
        label=_("Approval by the unit's own leadership"),
        required=False,
        help_text=_(
            "Only an approver appointed in this unit itself may approve its bulletins; "
            "approvers of the province above do not count."
        ),
    )


class ConfigItemForm(forms.Form):
    """A category or a language: add (with its code) or change."""

    code = forms.CharField(label=_("Code"), max_length=40, required=False)
    name = forms.CharField(label=_("Name"), max_length=120)
    position = forms.IntegerField(label=_("Position"), min_value=0, max_value=32767, initial=0)
    is_active = forms.BooleanField(label=_("In use"), required=False, initial=True)
