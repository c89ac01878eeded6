"""Forms of the handlers' pages. They parse input; the services apply the rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from .calendar import MAX_YEAR, MIN_YEAR
from .models import ASSISTED_SOURCES, DESCRIPTION_MAX, Category, HolidayKind, Source, Status

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _within_years(value: dt.date | None) -> None:
    # The working calendar (and the statistics' month arithmetic) spans these years; a date far
    # outside is a typo, answered as one instead of failing further down.
    if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
        raise forms.ValidationError(
            _("The date must be between %(min)d and %(max)d."),
            code="year_range",
            params={"min": MIN_YEAR, "max": MAX_YEAR},
        )


def _date_field(label: Any) -> forms.DateField:
    return forms.DateField(
        label=label, required=False, widget=DATE_WIDGET, validators=[_within_years]
    )


def category_choices(blank: Any) -> list[tuple[str, Any]]:
    return [("", blank), *((c.code, c.name) for c in Category.objects.filter(is_active=True))]


# A filter on the answer rather than the feedback (staff_views.staff_list applies it).
AWAITING_APPROVAL = "awaiting_approval"


class FeedbackFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False)
    category = forms.ChoiceField(label=_("Category"), required=False)
    unit = forms.CharField(
        label=_("Responsible unit (code)"),
        required=False,
        max_length=32,
        help_text=_("That unit and the units below it."),
    )
    assignee = forms.ChoiceField(
        label=_("Handler"),
        required=False,
        choices=[("", _("Anyone")), ("me", _("Me")), ("none", _("Nobody yet"))],
    )
    q = forms.CharField(label=_("Tracking code or words"), required=False, max_length=200)
    date_from = _date_field(_("Received from"))
    date_to = _date_field(_("Received until"))

    def __init__(self, *args: Any, may_approve: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[str, Any]] = [
            ("", _("Any status")),
            ("open", _("Waiting for an answer")),
            ("overdue", _("Overdue")),
        ]
        if may_approve:
            choices.append((AWAITING_APPROVAL, _("Answer waiting for approval")))
        self.fields["status"].choices = [*choices, *Status.choices]  # type: ignore[attr-defined]
        self.fields["category"].choices = category_choices(_("Any category"))  # type: ignore[attr-defined]


class AssistedIntakeForm(forms.Form):
    """Feedback a staff member writes down for someone (by phone, at a meeting)."""

    source = forms.ChoiceField(
        label=_("Received"),
        choices=[(s.value, s.label) for s in Source if s in ASSISTED_SOURCES],
    )
    category = forms.ChoiceField(label=_("Category"))
    commune = forms.ChoiceField(label=_("Commune"))
    address = forms.CharField(
        label=_("Place"),
        required=False,
        max_length=300,
        help_text=_("Street, hamlet or landmark."),
    )
    lat = forms.DecimalField(label=_("Latitude"), required=False, max_digits=9, decimal_places=6)
    long = forms.DecimalField(label=_("Longitude"), required=False, max_digits=9, decimal_places=6)
    description = forms.CharField(
        label=_("What is it about?"),
        max_length=DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 6}),
    )
    name = forms.CharField(label=_("Sender's name"), required=False, max_length=200)
    phone = forms.CharField(label=_("Sender's phone"), required=False, max_length=32)
    email = forms.EmailField(label=_("Sender's e-mail"), required=False, max_length=254)

    def __init__(self, *args: Any, communes: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices(_("Choose…"))  # type: ignore[attr-defined]
        self.fields["commune"].choices = [("", _("Choose…")), *communes]  # type: ignore[attr-defined]


class RoutingRuleForm(forms.Form):
    category = forms.ChoiceField(label=_("Category"), required=False)
    area = forms.CharField(
        label=_("From the area (unit code)"),
        max_length=32,
        help_text=_("A commune or province you administer; its communes are included."),
    )
    handler_unit = forms.CharField(label=_("Goes to the unit (code)"), max_length=32)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices(_("Any category"))  # type: ignore[attr-defined]


class UnitSettingsForm(forms.Form):
    unit = forms.CharField(label=_("Unit (code)"), max_length=32)
    answers_need_approval = forms.BooleanField(
        label=_("Answers need approval"),
        required=False,
        help_text=_("A leader (approver) must approve each answer before it is published."),
    )


class HolidayForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=DATE_WIDGET)
    name = forms.CharField(label=_("Name"), max_length=120)
    kind = forms.ChoiceField(label=_("Kind"), choices=HolidayKind.choices)


class StatsFilterForm(forms.Form):
    date_from = _date_field(_("Received from"))
    date_to = _date_field(_("Received until"))
    unit = forms.CharField(
        label=_("Responsible unit (code)"),
        required=False,
        max_length=32,
        help_text=_("That unit and the units below it."),
    )
    category = forms.ChoiceField(label=_("Category"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["category"].choices = category_choices(_("Any category"))  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start: dt.date | None = data.get("date_from")
        end: dt.date | None = data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", _("The end date is before the start date."))
        return data
