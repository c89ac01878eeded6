"""State changes on accounts, roles and tokens. Each one is a transaction with one audit record."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from datetime import datetime
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from thongtincoso.audit.services import audit_record, model_snapshot
from thongtincoso.core.errors import PermissionDeniedError, ServiceError, full_clean_or_raise
from thongtincoso.units.models import Unit

from . import policy
from .models import ApiToken, RoleAssignment, User
from .roles import Action, Role

USER_FIELDS = ["username", "full_name", "email", "phone", "unit", "is_active"]
TOKEN_PREFIX = "ttcs_"  # noqa: S105  (a public marker, not a secret)
TOKEN_MAX_LIFETIME = dt.timedelta(days=5 * 365)


def _require(actor: User | None, action: str, unit: Unit | None, message: str) -> None:
    if actor is not None and not policy.may(actor, action, unit):
        raise PermissionDeniedError(message)


def _require_account(actor: User | None, user: User, message: str) -> None:
    if actor is not None and not policy.may_manage_account(actor, user):
        raise PermissionDeniedError(message)


def user_create(
    *,
    actor: User | None,
    username: str,
    unit: Unit,
    password: str | None = None,
    full_name: str = "",
    email: str = "",
    phone: str = "",
) -> User:
    """Create a staff account in `unit`. `actor=None` means the system (demo loader, commands)."""
    _require(
        actor, Action.MANAGE_USERS, unit, _("You may only create accounts in units you administer.")
    )
    username = username.strip()
    if not username:
        raise ServiceError(_("Enter a user name."), field="username")
    if User.objects.filter(username__iexact=username).exists():
        raise ServiceError(
            _("The user name “%(u)s” is already taken.") % {"u": username}, field="username"
        )
    user = User(
        username=username,
        unit=unit,
        full_name=full_name.strip(),
        email=email.strip(),
        phone=phone.strip(),
    )
    if password:
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise ServiceError(" ".join(exc.messages), field="password") from exc
        user.set_password(password)
    else:
        user.set_unusable_password()
    with transaction.atomic():
        full_clean_or_raise(user, exclude=["password"])
        user.save()
        audit_record(
            actor=actor,
            action="accounts.user.create",
            obj=user,
            unit=unit,
            after=model_snapshot(user, USER_FIELDS),
        )
    return user


def user_update(*, actor: User | None, user: User, **changes: Any) -> User:
    """Change a user's details (full_name, email, phone, is_active, unit)."""
    _require_account(
        actor,
        user,
        _(
            "You may only change accounts whose unit and roles are all within the area you "
            "administer."
        ),
    )
    allowed = {"full_name", "email", "phone", "is_active", "unit"}
    unknown = set(changes) - allowed
    if unknown:
        raise ServiceError(
            _("These fields cannot be changed here: %(f)s") % {"f": ", ".join(sorted(unknown))}
        )
    new_unit = changes.get("unit")
    if new_unit is not None:
        _require(
            actor,
            Action.MANAGE_USERS,
            new_unit,
            _("You may only move accounts to units you administer."),
        )
    if actor is not None and actor.pk == user.pk and changes.get("is_active") is False:
        raise ServiceError(_("You cannot deactivate your own account."))
    before = model_snapshot(user, USER_FIELDS)
    for name, value in changes.items():
        setattr(user, name, value.strip() if isinstance(value, str) else value)
    with transaction.atomic():
        full_clean_or_raise(user, exclude=["password"])
        user.save()
        audit_record(
            actor=actor,
            action="accounts.user.update",
            obj=user,
            unit=user.unit,
            before=before,
            after=model_snapshot(user, USER_FIELDS),
        )
    return user


def user_set_password(*, actor: User | None, user: User, password: str) -> None:
    if actor is None or actor.pk != user.pk:
        _require_account(
            actor,
            user,
            _(
                "You may only set passwords of accounts whose unit and roles are all within the "
                "area you administer."
            ),
        )
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ServiceError(" ".join(exc.messages), field="password") from exc
    with transaction.atomic():
        user.set_password(password)
        user.save(update_fields=["password"])
        audit_record(actor=actor, action="accounts.user.set_password", obj=user, unit=user.unit)


def role_assign(
    *,
    actor: User | None,
    user: User,
    role: str,
    unit: Unit,
    covers_descendants: bool = True,
) -> RoleAssignment:
    """Give `user` a role over `unit`. Refusals are audited too, then raised."""
    if role not in Role.values:
        raise ServiceError(_("Choose a valid role."), field="role")
    if not unit.is_current:
        raise ServiceError(
            _("%(unit)s is no longer in force; assign roles on units in force.") % {"unit": unit},
            field="unit",
        )
    if actor is not None:
        refusal = _role_assign_refusal(
            actor=actor, user=user, role=role, unit=unit, covers_descendants=covers_descendants
        )
        if refusal:
            with transaction.atomic():
                audit_record(
                    actor=actor,
                    action="accounts.role.assign_denied",
                    unit=unit,
                    object_type="accounts.user",
                    object_id=str(user.pk),
                    object_repr=str(user),
                    after={"role": role, "unit": unit.code, "reason": str(refusal)},
                )
            raise PermissionDeniedError(refusal)
    if RoleAssignment.objects.filter(user=user, role=role, unit=unit).exists():
        raise ServiceError(_("This user already has that role in this unit."), field="role")
    try:
        with transaction.atomic():
            assignment = RoleAssignment.objects.create(
                user=user,
                role=role,
                unit=unit,
                covers_descendants=covers_descendants,
                created_by=actor,
            )
            audit_record(
                actor=actor,
                action="accounts.role.assign",
                obj=assignment,
                unit=unit,
                after={
                    "user": user.username,
                    "role": role,
                    "unit": unit.code,
                    "covers_descendants": covers_descendants,
                },
            )
    except IntegrityError as exc:  # a concurrent identical assignment won the race
        raise ServiceError(
            _("This user already has that role in this unit."), field="role"
        ) from exc
    policy.forget(user)
    return assignment


def _role_assign_refusal(
    *, actor: User, user: User, role: str, unit: Unit, covers_descendants: bool
) -> str | None:
    if not policy.may(actor, Action.MANAGE_USERS, unit):
        return _(
            "You may only assign roles in units you administer; %(unit)s is outside your area."
        ) % {"unit": unit.name}
    if covers_descendants and not policy.grantable_roles(actor, unit, covers_descendants=True):
        return _(
            "Your own role in %(unit)s does not cover the units below it, so the roles you "
            "assign there cannot either. Untick “Also covers the units below”."
        ) % {"unit": unit.name}
    if role not in policy.grantable_roles(actor, unit, covers_descendants=covers_descendants):
        return _("Only a system administrator may assign the role “%(role)s”.") % {
            "role": Role(role).label
        }
    if not policy.may_manage_account(actor, user):
        return _(
            "You may only assign roles to accounts whose unit and roles are all within the area "
            "you administer."
        )
    return None


def _role_revoke_refusal(*, actor: User, assignment: RoleAssignment) -> str | None:
    if not policy.may(actor, Action.MANAGE_USERS, assignment.unit):
        return _("You may only remove roles in units you administer.")
    grantable = policy.grantable_roles(
        actor, assignment.unit, covers_descendants=assignment.covers_descendants
    )
    if assignment.role not in grantable or not policy.may_manage_account(actor, assignment.user):
        return _(
            "You may only remove roles that you could assign yourself, from accounts whose unit "
            "and roles are all within the area you administer."
        )
    return None


def role_revoke(*, actor: User | None, assignment: RoleAssignment) -> None:
    """Remove a role. Only someone who could have granted it, to that account, may remove it."""
    if actor is not None:
        refusal = _role_revoke_refusal(actor=actor, assignment=assignment)
        if refusal:
            with transaction.atomic():
                audit_record(
                    actor=actor,
                    action="accounts.role.revoke_denied",
                    obj=assignment,
                    unit=assignment.unit,
                    after={"role": assignment.role, "reason": str(refusal)},
                )
            raise PermissionDeniedError(refusal)
    if (
        actor is not None
        and assignment.user_id == actor.pk
        and assignment.role in (Role.SYSTEM_ADMIN, Role.UNIT_ADMIN)
    ):
        raise ServiceError(_("You cannot remove your own administrator role."))
    with transaction.atomic():
        before = {
            "user": assignment.user.username,
            "role": assignment.role,
            "unit": assignment.unit.code,
            "covers_descendants": assignment.covers_descendants,
        }
        audit_record(
            actor=actor,
            action="accounts.role.revoke",
            obj=assignment,
            unit=assignment.unit,
            before=before,
        )
        assignment.delete()
    policy.forget(assignment.user)


def _hash_token(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a plain SHA-256 is enough (no slow hash needed).
    return hashlib.sha256(raw.encode()).hexdigest()


def api_token_create(
    *, actor: User, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a personal token; return it with its secret, shown to the user exactly once."""
    if actor.pk != user.pk:
        raise PermissionDeniedError(_("You can only create tokens for your own account."))
    name = name.strip()
    if not name:
        raise ServiceError(
            _("Give the token a name, e.g. the program that will use it."), field="name"
        )
    if expires_at is not None and timezone.is_naive(expires_at):
        # A time without a zone is Vietnam's local time, as people type it.
        expires_at = timezone.make_aware(expires_at)
    if expires_at is not None and expires_at > timezone.now() + TOKEN_MAX_LIFETIME:
        raise ServiceError(
            _("A token can be valid for at most %(years)d years; choose an earlier expiry date.")
            % {"years": TOKEN_MAX_LIFETIME.days // 365},
            field="expires_at",
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ServiceError(_("The expiry date must be in the future."), field="expires_at")
    prefix = secrets.token_hex(6)
    raw = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user, name=name, prefix=prefix, token_hash=_hash_token(raw), expires_at=expires_at
        )
        audit_record(
            actor=actor,
            action="accounts.token.create",
            obj=token,
            unit=user.unit,
            after={
                "name": name,
                "prefix": prefix,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
        )
    return token, raw


def api_token_revoke(*, actor: User, token: ApiToken) -> ApiToken:
    if actor.pk != token.user_id and not policy.may_manage_account(actor, token.user):
        raise PermissionDeniedError(_("You may not revoke this token."))
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action="accounts.token.revoke",
            obj=token,
            unit=token.user.unit,
            after={"revoked_at": token.revoked_at.isoformat()},
        )
    return token


def api_token_authenticate(raw: str) -> User | None:
    """The active user behind a raw token, or None. Marks the token as used."""
    import hmac

    if not raw.startswith(TOKEN_PREFIX):
        return None
    prefix = raw[len(TOKEN_PREFIX) :].split("_", 1)[0]
    token = ApiToken.objects.usable().select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.token_hash, _hash_token(raw)):
        return None
    if not token.user.is_active:
        return None
    now = timezone.now()
    # Writing on every call would serialise API traffic on SQLite; a minute's precision is enough.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def totp_device_confirm(*, actor: User, device: Any, code: str) -> bool:
    """Confirm a new TOTP device with a code from the authenticator app."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    assert isinstance(device, TOTPDevice)
    if device.user_id != actor.pk:
        raise PermissionDeniedError(_("This device belongs to another account."))
    code = "".join(ch for ch in code if ch.isdigit())
    if not device.verify_token(code):
        return False
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=actor).exclude(pk=device.pk).delete()
        audit_record(
            actor=actor,
            action="accounts.totp.enrol",
            obj=actor,
            unit=actor.unit,
            after={"device": device.name},
        )
    return True
