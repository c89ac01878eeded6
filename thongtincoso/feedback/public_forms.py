"""Forms of the citizens' feedback pages. They only carry input; `services.feedback_submit`
applies every rule, so the web form, Open311 and assisted intake refuse the same things with the
same messages (which is why lengths and choices are not checked here a second time)."""

from __future__ import annotations

import re
from itertools import groupby
from typing import Any

from django import forms
from django.http import QueryDict
from django.utils.translation import gettext_lazy as _

from thongtincoso.units.models import Unit, UnitKind

from .models import DESCRIPTION_MAX, Category
from .services import ADDRESS_MAX, NAME_MAX, REASON_MAX

# The honeypot: people never see it (CSS, aria-hidden, out of the tab order); form-filling bots do.
HONEYPOT = "website"
ATTRIBUTE_PREFIX = "attribute["


# Unit codes ("01", "00070", "00070.001") and category codes (slugs): anything else a request
# carries (a NUL byte, which PostgreSQL refuses in a query; megabytes of text) is no code at all.
_CODE_PARAM = re.compile(r"[\w.-]{1,40}", re.ASCII)


def code_param(value: Any) -> str:
    """A unit or category code from a request, or "" when it cannot be one."""
    text = value.strip() if isinstance(value, str) else ""
    return text if _CODE_PARAM.fullmatch(text) else ""


def category_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    """Categories in use, grouped as Open311 groups them (a <select> with <optgroup>s)."""
    rows = Category.objects.filter(is_active=True).order_by("group", "position", "name")
    return [
        (group, [(c.code, c.name) for c in items])
        for group, items in groupby(rows, key=lambda c: c.group)
    ]


def category_choices() -> list[tuple[str, Any]]:
    choices: list[tuple[str, Any]] = [("", _("— Choose —"))]
    for group, options in category_groups():
        if group:
            choices.append((group, options))
        else:
            choices.extend(options)
    return choices


def province_choices() -> list[tuple[str, str]]:
    provinces = Unit.objects.current().filter(kind=UnitKind.PROVINCE).order_by("name", "code")
    return [("", str(_("— Choose —"))), *((p.code, p.name) for p in provinces)]


def commune_choices(province_code: str) -> list[tuple[str, str]]:
    """The communes in force of a province (empty list for an unknown province)."""
    province_code = code_param(province_code)
    if not province_code:
        return []
    communes = (
        Unit.objects.current()
        .filter(parent__code=province_code, parent__kind=UnitKind.PROVINCE, kind=UnitKind.COMMUNE)
        .order_by("name", "code")
    )
    return [(c.code, c.name) for c in communes]


class SubmitForm(forms.Form):
    category = forms.CharField(label=_("What is it about?"), required=False, widget=forms.Select)
    province = forms.CharField(label=_("Province or city"), required=False, widget=forms.Select)
    commune = forms.CharField(label=_("Commune or ward"), required=False, widget=forms.Select)
    address = forms.CharField(
        label=_("Place"),
        required=False,
        help_text=_("Street and house number, hamlet, or a landmark nearby."),
        widget=forms.TextInput(attrs={"maxlength": ADDRESS_MAX, "autocomplete": "street-address"}),
    )
    lat = forms.CharField(required=False, widget=forms.HiddenInput)
    long = forms.CharField(required=False, widget=forms.HiddenInput)
    description = forms.CharField(
        label=_("What do you want to report?"),
        required=False,
        strip=False,
        # `required` for the browser only (it checks before sending, so chosen photos are
        # kept); the view and the service say what is missing when a browser does not.
        widget=forms.Textarea(attrs={"maxlength": DESCRIPTION_MAX, "rows": 6, "required": True}),
    )
    keep_location = forms.BooleanField(
        label=_("Keep the location stored in my photos"),
        required=False,
        help_text=_(
            "Phones often record where a photo was taken. We remove it unless you tick this; "
            "keeping it helps the officers find the place."
        ),
    )
    name = forms.CharField(
        label=_("Your name (optional)"),
        required=False,
        widget=forms.TextInput(attrs={"maxlength": NAME_MAX, "autocomplete": "name"}),
    )
    phone = forms.CharField(
        label=_("Phone (optional)"),
        required=False,
        widget=forms.TextInput(
            attrs={"type": "tel", "inputmode": "tel", "autocomplete": "tel", "maxlength": 32}
        ),
    )
    email = forms.CharField(
        label=_("E-mail (optional)"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "maxlength": 254}),
    )
    consent = forms.BooleanField(
        label=_("I agree that my name and contact details are used as described above."),
        required=False,
    )
    website = forms.CharField(
        label=_("Leave this empty"),
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.category_groups = category_groups()
        self.fields["province"].widget.choices = province_choices()  # type: ignore[attr-defined]
        self.fields["province"].widget.attrs.update({"data-communes": "1"})
        self.fields["commune"].widget.choices = [  # type: ignore[attr-defined]
            ("", str(_("— Choose —"))),
            *commune_choices(code_param(self["province"].value())),
        ]
        # submit.html shows it as the live counter (id_description_helptext); set here so that
        # Django points the textarea's aria-describedby at the counter and at the error.
        self.fields["description"].help_text = _("At most %(max)s characters.") % {
            "max": DESCRIPTION_MAX
        }

    @property
    def honeypot_filled(self) -> bool:
        return bool((self.data.get(HONEYPOT) or "").strip())


def attributes_from(data: QueryDict | Any) -> dict[str, Any]:
    """The answers to the category's questions, posted as attribute[code] (repeated if several)."""
    answers: dict[str, Any] = {}
    for key in data:
        if key.startswith(ATTRIBUTE_PREFIX) and key.endswith("]"):
            code = key[len(ATTRIBUTE_PREFIX) : -1]
            values = data.getlist(key)
            answers[code] = values[0] if len(values) == 1 else values
    return answers


class LookupForm(forms.Form):
    code = forms.CharField(
        label=_("Tracking code"),
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocapitalize": "characters", "autocomplete": "off", "spellcheck": "false"}
        ),
    )


class ReopenForm(forms.Form):
    """The sender's reason, and the proof that they are the sender: the sender key from their
    receipt link (carried hidden) or, without the link, the phone or e-mail they gave."""

    reason = forms.CharField(
        label=_("Why is the answer not enough?"),
        required=False,
        widget=forms.Textarea(attrs={"maxlength": REASON_MAX, "rows": 3}),
    )
    verification = forms.CharField(
        label=_("The phone number or e-mail you gave"),
        required=False,
        max_length=254,
        help_text=_("Only the sender may reopen a feedback."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "maxlength": 254}),
    )

    def __init__(self, *args: Any, sender_key: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_sender_key = bool(sender_key)
        if sender_key:
            self.fields["verification"].widget = forms.HiddenInput()
            self.fields["verification"].initial = sender_key


class ExportForm(forms.Form):
    code = forms.CharField(
        label=_("Tracking code"),
        required=False,
        max_length=32,
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "autocomplete": "off"}),
    )
    verification = forms.CharField(
        label=_("The phone number or e-mail address you gave"),
        required=False,
        max_length=254,
    )


class ListFilterForm(forms.Form):
    province = forms.CharField(label=_("Province or city"), required=False, widget=forms.Select)
    commune = forms.CharField(label=_("Commune or ward"), required=False, widget=forms.Select)
    category = forms.CharField(label=_("Category"), required=False, widget=forms.Select)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        any_choice = ("", str(_("All")))
        self.fields["province"].widget.choices = [  # type: ignore[attr-defined]
            any_choice,
            *province_choices()[1:],
        ]
        self.fields["province"].widget.attrs.update({"data-communes": "1"})
        self.fields["commune"].widget.choices = [  # type: ignore[attr-defined]
            any_choice,
            *commune_choices(code_param(self["province"].value())),
        ]
        self.fields["category"].widget.choices = [  # type: ignore[attr-defined]
            any_choice,
            *category_choices()[1:],
        ]
