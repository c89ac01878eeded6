"""Staff pages. Thin: each view reads through a selector or the policy and writes via a service."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from thongtincoso.accounts import policy
from thongtincoso.accounts import selectors as account_selectors
from thongtincoso.accounts import services as accounts
from thongtincoso.accounts.models import User
from thongtincoso.accounts.roles import Action
from thongtincoso.audit.selectors import audit_records_visible
from thongtincoso.core.errors import PermissionDeniedError, ServiceError
from thongtincoso.jobs.selectors import jobs_visible
from thongtincoso.jobs.services import PERIODIC_REGISTRY
from thongtincoso.units import selectors as unit_selectors
from thongtincoso.units import services as units
from thongtincoso.units.models import Unit, UnitKind
from thongtincoso.web.shortcuts import form_error, safe_next, scoped_unit

from . import forms
from .qr import qr_svg


def _form_status(form: Any) -> int:
    """400 when a submitted form is shown again with errors, as the other form views answer."""
    return 400 if form.is_bound and form.errors else 200


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused form (expired page, cookies off) explained in the person's language."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": _("The security check (CSRF) failed. Reload the page and try again.")},
            status=403,
        )
    return render(request, "web/403_csrf.html", status=403)


# --- Authentication -------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    authentication_form = forms.LoginForm
    redirect_authenticated_user = True


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.info(request, _("You have logged out."))
    return redirect("web:login")


@login_required
def two_factor_setup(request: HttpRequest) -> HttpResponse:
    user = policy.acting_user(request)
    has_device = TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    if has_device and not user.is_verified():  # type: ignore[attr-defined]
        # Replacing a device needs the current one first; otherwise a stolen password alone
        # could enrol the thief's phone.
        return redirect(f"{reverse('web:2fa_verify')}?next={request.get_full_path()}")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=_("Authenticator app"), confirmed=False)
    form = forms.OtpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if accounts.totp_device_confirm(actor=user, device=device, code=form.cleaned_data["code"]):
            otp_login(request, device)
            messages.success(request, _("Two-factor authentication is on for your account."))
            return redirect(safe_next(request, "/"))
        form.add_error(
            "code",
            _("That code is not valid. Check the time on your phone and enter the newest code."),
        )
    secret = _base32(device.bin_key)
    return render(
        request,
        "web/2fa_setup.html",
        {
            "form": form,
            "secret": secret,
            "qr": qr_svg(device.config_url),
            "next": request.GET.get("next", ""),
        },
    )


def _base32(key: bytes) -> str:
    import base64

    raw = base64.b32encode(key).decode().rstrip("=")
    return " ".join(raw[i : i + 4] for i in range(0, len(raw), 4))


@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    user = request.user
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        return redirect("web:2fa_setup")
    form = forms.OtpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_is_allowed()[0] and device.verify_token(form.cleaned_data["code"]):
            otp_login(request, device)
            return redirect(safe_next(request, "/"))
        form.add_error(
            "code",
            _("That code is not valid. Check the time on your phone and enter the newest code."),
        )
    return render(
        request, "web/2fa_verify.html", {"form": form, "next": request.GET.get("next", "")}
    )


# --- Dashboard and account ------------------------------------------------------------------


def dashboard(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        # "/" is also the public's front door: visitors get the portal, staff log in from there.
        return redirect("portal:home")
    homes = unit_selectors.unit_home_units(request.user, Action.VIEW)
    code = request.GET.get("unit")
    unit = scoped_unit(request, code) if code else (homes[0] if homes else None)
    context: dict[str, Any] = {"homes": homes, "unit": unit}
    if unit is not None:
        context.update(_unit_summary(request, unit))
    return render(request, "web/dashboard.html", context)


def _unit_summary(request: HttpRequest, unit: Unit) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "counts": unit_selectors.unit_subtree_counts(unit),
        "actions": [a for a in Action if policy.may(request.user, a, unit)],
    }
    if policy.may(request.user, Action.MANAGE_USERS, unit):
        summary["user_count"] = account_selectors.users_of_unit(request.user, unit).count()
    if policy.may(request.user, Action.VIEW_AUDIT, unit):
        summary["recent_audit"] = audit_records_visible(request.user, within=unit)[:8]
    return summary


@login_required
def account(request: HttpRequest) -> HttpResponse:
    user = policy.acting_user(request)
    form = forms.TokenForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        try:
            _token, new_token = accounts.api_token_create(
                actor=user, user=user, name=form.cleaned_data["name"]
            )
            form = forms.TokenForm()
        except ServiceError as exc:
            form_error(form, exc)
    return render(request, "web/account.html", _account_context(user, form, new_token=new_token))


def _account_context(
    user: User,
    form: forms.TokenForm | None = None,
    *,
    new_token: str | None = None,
    password_form: forms.PasswordChangeForm | None = None,
) -> dict[str, Any]:
    return {
        "form": form or forms.TokenForm(),
        "password_form": password_form or forms.PasswordChangeForm(user=user),
        "new_token": new_token,
        "tokens": account_selectors.tokens_of(user),
        "has_2fa": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
        "roles": user.role_assignments.select_related("unit"),
    }


@login_required
@require_POST
def password_change(request: HttpRequest) -> HttpResponse:
    """Change one's own password: the current one first, as Django's PasswordChangeForm asks."""
    user = policy.acting_user(request)
    form = forms.PasswordChangeForm(request.POST, user=user)
    if form.is_valid():
        try:
            accounts.user_set_password(
                actor=user, user=user, password=form.cleaned_data["password"]
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            # The new password changes the session hash; keep this session, end the others.
            update_session_auth_hash(request, user)
            messages.success(request, _("Your password has been changed."))
            return redirect("web:account")
    return render(
        request, "web/account.html", _account_context(user, password_form=form), status=400
    )


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(account_selectors.tokens_of(request.user), pk=token_id)
    accounts.api_token_revoke(actor=policy.acting_user(request), token=token)
    messages.success(request, _("The token has been revoked."))
    return redirect("web:account")


# --- Unit tree ------------------------------------------------------------------------------


@login_required
def unit_root(request: HttpRequest) -> HttpResponse:
    homes = unit_selectors.unit_home_units(request.user, Action.VIEW)
    if len(homes) == 1:
        return redirect("web:unit_detail", code=homes[0].code)
    return render(request, "web/unit_root.html", {"homes": homes})


@login_required
def unit_detail(request: HttpRequest, code: str) -> HttpResponse:
    unit = scoped_unit(request, code)
    visible_ancestors = policy.restrict(unit.ancestors(), request.user, Action.VIEW)
    return render(
        request,
        "web/unit_detail.html",
        {
            "unit": unit,
            "ancestors": visible_ancestors,
            **_children_context(request, unit),
            "can_edit": policy.may(request.user, Action.EDIT, unit),
            "can_manage_users": policy.may(request.user, Action.MANAGE_USERS, unit),
            "can_reload_units": unit.kind == UnitKind.NATION
            and policy.is_system_admin(request.user),
            "actions": [a for a in Action if policy.may(request.user, a, unit)],
        },
    )


def _children_context(request: HttpRequest, unit: Unit) -> dict[str, Any]:
    q = request.GET.get("q", "")
    children = unit_selectors.unit_search(unit_selectors.unit_children(unit), q)
    page = Paginator(children, 50).get_page(request.GET.get("page"))
    counts = unit_selectors.unit_child_counts(list(page.object_list))
    for child in page.object_list:
        child.child_count = counts.get(child.pk, 0)
    return {
        "children": page,
        "q": q,
        # A commune's children are its zones; editors of the commune may retire them.
        "can_retire_zones": unit.kind == UnitKind.COMMUNE
        and policy.may(request.user, Action.EDIT, unit),
    }


@login_required
def unit_children(request: HttpRequest, code: str) -> HttpResponse:
    """The children table alone, for htmx search-as-you-type and paging."""
    unit = scoped_unit(request, code)
    return render(
        request, "web/_unit_children.html", {"unit": unit, **_children_context(request, unit)}
    )


@login_required
def unit_edit(request: HttpRequest, code: str) -> HttpResponse:
    unit = scoped_unit(request, code, Action.EDIT)
    form = forms.UnitEditForm(
        request.POST or None,
        initial={"committee_name": unit.committee_name, "department_name": unit.department_name},
    )
    if request.method == "POST" and form.is_valid():
        try:
            units.unit_update(actor=policy.acting_user(request), unit=unit, **form.cleaned_data)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("The unit's details have been saved."))
            return redirect("web:unit_detail", code=unit.code)
    return render(
        request, "web/unit_edit.html", {"unit": unit, "form": form}, status=_form_status(form)
    )


@login_required
def zone_create(request: HttpRequest, code: str) -> HttpResponse:
    commune = scoped_unit(request, code, Action.EDIT)
    if commune.kind != UnitKind.COMMUNE:
        raise Http404
    form = forms.ZoneForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            zone = units.zone_create(
                actor=policy.acting_user(request),
                commune=commune,
                **form.cleaned_data,
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Zone “%(name)s” added.") % {"name": zone.name})
            return redirect("web:unit_detail", code=commune.code)
    return render(
        request, "web/zone_form.html", {"unit": commune, "form": form}, status=_form_status(form)
    )


@login_required
def zone_retire(request: HttpRequest, code: str) -> HttpResponse:
    """GET asks for confirmation; POST retires the zone (it stays for older records)."""
    zone = scoped_unit(request, code, Action.EDIT)
    if zone.kind != UnitKind.ZONE or zone.parent is None:
        raise Http404
    commune = zone.parent
    if request.method == "POST":
        try:
            units.zone_retire(actor=policy.acting_user(request), zone=zone)
        except ServiceError as exc:
            messages.error(request, str(exc.message))
        else:
            messages.success(request, _("Zone “%(name)s” retired.") % {"name": zone.name})
        return redirect("web:unit_detail", code=commune.code)
    return render(request, "web/zone_retire.html", {"zone": zone, "unit": commune})


@login_required
@require_POST
def units_reload(request: HttpRequest, code: str) -> HttpResponse:
    """Start reloading the official unit list; system administrators only, from the nation."""
    nation = scoped_unit(request, code, Action.MANAGE_USERS)
    if nation.kind != UnitKind.NATION or not policy.is_system_admin(request.user):
        raise Http404
    try:
        job = units.units_reload_start(actor=policy.acting_user(request), nation=nation)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect("web:unit_detail", code=nation.code)
    return redirect("web:job_progress", job_id=job.pk)


# --- Users and roles ------------------------------------------------------------------------


@login_required
def unit_users(request: HttpRequest, code: str) -> HttpResponse:
    unit = scoped_unit(request, code, Action.MANAGE_USERS)
    users = account_selectors.users_of_unit(request.user, unit)
    page = Paginator(users, 50).get_page(request.GET.get("page"))
    return render(request, "web/unit_users.html", {"unit": unit, "users": page})


@login_required
def user_create(request: HttpRequest, code: str) -> HttpResponse:
    unit = scoped_unit(request, code, Action.MANAGE_USERS)
    form = forms.UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = accounts.user_create(
                actor=policy.acting_user(request),
                unit=unit,
                **form.cleaned_data,
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(request, _("Account “%(u)s” created.") % {"u": user.username})
            return redirect("web:user_detail", user_id=user.pk)
    return render(
        request, "web/user_form.html", {"unit": unit, "form": form}, status=_form_status(form)
    )


def _managed_user(request: HttpRequest, user_id: int) -> User:
    return get_object_or_404(account_selectors.users_manageable(request.user), pk=user_id)


@login_required
def user_detail(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = _managed_user(request, user_id)
    return render(request, "web/user_detail.html", _user_context(request, subject))


def _user_context(
    request: HttpRequest,
    subject: User,
    form: Any = None,
    *,
    edit_form: forms.UserEditForm | None = None,
    password_form: forms.PasswordSetForm | None = None,
) -> dict[str, Any]:
    """The user page; a form that failed is passed in so its errors show, the rest are new."""
    unit = subject.unit  # None for an account made with createsuperuser
    if form is None:
        # Offer every role the user could grant here at all; whether it may also cover the
        # units below is checked by the service against the user's own reach.
        roles = policy.grantable_roles(request.user, unit, covers_descendants=False) if unit else []
        can_cover = unit is not None and bool(
            policy.grantable_roles(request.user, unit, covers_descendants=True)
        )
        form = forms.RoleAssignForm(
            roles=roles,
            initial={"unit": unit.code if unit else "", "covers_descendants": can_cover},
        )
    if edit_form is None:
        edit_form = forms.UserEditForm(
            initial={"full_name": subject.full_name, "email": subject.email, "phone": subject.phone}
        )
    return {
        "subject": subject,
        "is_self": subject.pk == request.user.pk,
        "form": form,
        "edit_form": edit_form,
        "password_form": password_form or forms.PasswordSetForm(),
        "assignments": subject.role_assignments.select_related("unit").order_by("unit__path"),
    }


@login_required
@require_POST
def user_edit(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = _managed_user(request, user_id)
    form = forms.UserEditForm(request.POST)
    if form.is_valid():
        try:
            accounts.user_update(
                actor=policy.acting_user(request), user=subject, **form.cleaned_data
            )
        except ServiceError as exc:
            form_error(form, exc)
            subject.refresh_from_db()  # the service may have set values it then refused
        else:
            messages.success(request, _("The account's details have been saved."))
            return redirect("web:user_detail", user_id=subject.pk)
    return render(
        request, "web/user_detail.html", _user_context(request, subject, edit_form=form), status=400
    )


def _user_set_active(request: HttpRequest, user_id: int, *, active: bool) -> HttpResponse:
    subject = _managed_user(request, user_id)
    try:
        accounts.user_update(actor=policy.acting_user(request), user=subject, is_active=active)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        if active:
            done = _("Account “%(u)s” reactivated: it can log in again.")
        else:
            done = _("Account “%(u)s” deactivated: it can no longer log in or use its tokens.")
        messages.success(request, done % {"u": subject.username})
    return redirect("web:user_detail", user_id=subject.pk)


@login_required
@require_POST
def user_deactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    return _user_set_active(request, user_id, active=False)


@login_required
@require_POST
def user_reactivate(request: HttpRequest, user_id: int) -> HttpResponse:
    return _user_set_active(request, user_id, active=True)


@login_required
@require_POST
def user_set_password(request: HttpRequest, user_id: int) -> HttpResponse:
    """A unit admin sets a new password for an account (e.g. its holder forgot theirs)."""
    subject = _managed_user(request, user_id)
    if subject.pk == request.user.pk:
        # One's own password changes on the account page, where the current one is asked for.
        messages.error(
            request, _("Change your own password on “My account”, with your current password.")
        )
        return redirect("web:account")
    form = forms.PasswordSetForm(request.POST)
    if form.is_valid():
        try:
            accounts.user_set_password(
                actor=policy.acting_user(request),
                user=subject,
                password=form.cleaned_data["password"],
            )
        except ServiceError as exc:
            form_error(form, exc)
        else:
            messages.success(
                request,
                _("New password set for “%(u)s”. Give it to them in person or by phone.")
                % {"u": subject.username},
            )
            return redirect("web:user_detail", user_id=subject.pk)
    return render(
        request,
        "web/user_detail.html",
        _user_context(request, subject, password_form=form),
        status=400,
    )


@login_required
@require_POST
def role_assign(request: HttpRequest, user_id: int) -> HttpResponse:
    subject = _managed_user(request, user_id)
    from thongtincoso.accounts.roles import Role

    form = forms.RoleAssignForm(request.POST, roles=list(Role.values))
    if form.is_valid():
        unit = unit_selectors.unit_get_public(form.cleaned_data["unit"].strip())
        if unit is None:
            form.add_error(
                "unit",
                _("No unit has the code “%(c)s”. Check the code.")
                % {"c": form.cleaned_data["unit"]},
            )
        else:
            try:
                accounts.role_assign(
                    actor=policy.acting_user(request),
                    user=subject,
                    role=form.cleaned_data["role"],
                    unit=unit,
                    covers_descendants=form.cleaned_data["covers_descendants"],
                )
            except ServiceError as exc:
                form_error(form, exc)
            else:
                messages.success(request, _("Role assigned."))
                return redirect("web:user_detail", user_id=subject.pk)
    status = 400
    return render(
        request, "web/user_detail.html", _user_context(request, subject, form), status=status
    )


@login_required
@require_POST
def role_revoke(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = get_object_or_404(
        account_selectors.role_assignments_visible(request.user), pk=assignment_id
    )
    try:
        accounts.role_revoke(actor=policy.acting_user(request), assignment=assignment)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("Role removed."))
    return redirect("web:user_detail", user_id=assignment.user_id)


# --- Audit and jobs -------------------------------------------------------------------------


@login_required
def audit_list(request: HttpRequest) -> HttpResponse:
    if not policy.may_anywhere(request.user, Action.VIEW_AUDIT):
        raise Http404
    form = forms.AuditFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "action": data["action"],
            "actor_username": data["actor"],
            "unit_code": data["unit"],
            "date_from": data["date_from"],
            "date_to": data["date_to"],
        }
    records = audit_records_visible(request.user, **filters)
    page = Paginator(records, 50).get_page(request.GET.get("page"))
    template = "web/_audit_table.html" if request.htmx else "web/audit.html"  # type: ignore[attr-defined]
    return render(
        request, template, {"form": form, "records": page, "periodic": PERIODIC_REGISTRY.values()}
    )


@login_required
@login_required
@require_POST
def job_cancel(request: HttpRequest, job_id: str) -> HttpResponse:
    """Stop a queued or running job: whoever started it, or who may manage its unit."""
    from thongtincoso.jobs.services import job_cancel as cancel

    user = policy.acting_user(request)
    job = get_object_or_404(jobs_visible(user), pk=job_id)
    try:
        finished_before = not cancel(job, actor=user)
    except PermissionDeniedError as exc:
        raise PermissionDenied(str(exc.message)) from exc
    if finished_before:
        messages.info(request, _("The job had already finished."))
    # An htmx caller (the bulletin's audio panel) names the partial to show next.
    panel = request.POST.get("panel", "")
    if (
        request.htmx  # type: ignore[attr-defined]
        and panel
        and url_has_allowed_host_and_scheme(
            panel, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
    ):
        return redirect(panel)
    return redirect(safe_next(request, reverse("web:job_progress", args=[job.pk])))


@login_required
def job_progress(request: HttpRequest, job_id: str) -> HttpResponse:
    """The job page; htmx polls the same address and gets only the progress partial."""
    job = get_object_or_404(jobs_visible(policy.acting_user(request)), pk=job_id)
    template = "web/_job_progress.html" if request.htmx else "web/job_detail.html"  # type: ignore[attr-defined]
    return render(request, template, {"job": job})
