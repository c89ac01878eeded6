"""Forms of the staff interface. They validate input; the services apply the rules."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from thongtincoso.accounts.roles import Role
from thongtincoso.units.services import ZONE_TYPES


class LoginForm(AuthenticationForm):
    # One message for an unknown user and a wrong password, so neither can be probed.
    error_messages = {
        "invalid_login": _("The user name or password is incorrect. Check both and try again."),
        "inactive": _("The user name or password is incorrect. Check both and try again."),
    }
    username = forms.CharField(
        label=_("User name"),
        max_length=150,
        widget=forms.TextInput(attrs={"autofocus": True, "autocomplete": "username"}),
    )
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class OtpCodeForm(forms.Form):
    code = forms.CharField(
        label=_("6-digit code from your authenticator app"),
        max_length=12,
        widget=forms.TextInput(
            attrs={
                "inputmode": "numeric",
                "autocomplete": "one-time-code",
                "pattern": "[0-9 ]*",
                "autofocus": True,
            }
        ),
    )

    def clean_code(self) -> str:
        code = "".join(ch for ch in self.cleaned_data["code"] if ch.isdigit())
        if len(code) != 6:
            raise forms.ValidationError(_("Enter the 6 digits shown in your authenticator app."))
        return code


class UnitEditForm(forms.Form):
    committee_name = forms.CharField(label=_("People's Committee"), max_length=255, required=False)
    department_name = forms.CharField(
        label=_("Department in charge"), max_length=255, required=False
    )


class ZoneForm(forms.Form):
    type_name = forms.ChoiceField(label=_("Type"), choices=[(t, t) for t in ZONE_TYPES])
    name = forms.CharField(label=_("Name"), max_length=150)


def _phone_field() -> forms.RegexField:
    return forms.RegexField(
        label=_("Phone"),
        max_length=32,
        required=False,
        regex=r"^\+?[0-9 .-]{8,20}$",
        error_messages={"invalid": _("Enter a phone number of 8 to 20 digits, e.g. 0912 345 678.")},
    )


class UserCreateForm(forms.Form):
    username = forms.RegexField(
        label=_("User name"),
        max_length=150,
        regex=r"^[\w.@+-]+$",
        error_messages={"invalid": _("Use only letters, digits and . @ + - _ in user names.")},
    )
    full_name = forms.CharField(label=_("Full name"), max_length=200)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = _phone_field()
    password = forms.CharField(
        label=_("Initial password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 10 characters, not only digits."),
    )


class UserEditForm(forms.Form):
    """A unit admin corrects an account's contact details (the user name never changes)."""

    full_name = forms.CharField(label=_("Full name"), max_length=200)
    email = forms.EmailField(label=_("E-mail"), required=False)
    phone = _phone_field()


class PasswordSetForm(forms.Form):
    """A new password typed twice. The service checks its strength (AUTH_PASSWORD_VALIDATORS)."""

    password = forms.CharField(
        label=_("New password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 10 characters, not only digits."),
    )
    password_confirm = forms.CharField(
        label=_("New password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password"), data.get("password_confirm")
        if first and second and first != second:
            self.add_error(
                "password_confirm",
                _("The two passwords do not match. Type the same password twice."),
            )
        return data


class PasswordChangeForm(PasswordSetForm):
    """Django's PasswordChangeForm, but the change itself is left to the service."""

    old_password = forms.CharField(
        label=_("Current password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    field_order = ["old_password", "password", "password_confirm"]

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def clean_old_password(self) -> str:
        old = self.cleaned_data["old_password"]
        if not self.user.check_password(old):
            raise forms.ValidationError(
                _("Your current password is not correct. Type it again."),
                code="password_incorrect",
            )
        return old


class RoleAssignForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"))
    unit = forms.CharField(
        label=_("Unit code"),
        max_length=32,
        help_text=_("e.g. 01 for a province, 00070 for a commune"),
    )
    covers_descendants = forms.BooleanField(
        label=_("Also covers the units below"), required=False, initial=True
    )

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field: Any = self.fields["role"]
        role_field.choices = [(r, Role(r).label) for r in roles]


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"),
        max_length=100,
        help_text=_("What will use it, e.g. “reporting script”."),
    )


class AuditFilterForm(forms.Form):
    action = forms.CharField(label=_("Action"), required=False, max_length=64)
    actor = forms.CharField(label=_("User"), required=False, max_length=150)
    unit = forms.CharField(label=_("Unit code"), required=False, max_length=32)
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The start date must not be after the end date."))
        return data
