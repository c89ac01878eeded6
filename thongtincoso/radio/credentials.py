"""Device secrets: one-time enrolment codes, bearer credentials, manifest capabilities.

Only SHA-256 digests of codes and credentials are stored. Both are long and random, so a plain
hash is as strong as a slow one and lets every request find its device with one index hit.

The manifest file of a device lives at an unguessable name (the capability), so a static server
can answer polls without asking Python. The capability is HMAC(SECRET_KEY, "manifest:" + the
credential's hash): the server can recompute it from the row when it re-renders, the device's
request can compute it from its bearer token without a query, and it changes with the credential.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from thongtincoso.audit.services import audit_record
from thongtincoso.core.errors import NotFoundError, PermissionDeniedError, ServiceError

from .models import Device

if TYPE_CHECKING:
    from thongtincoso.accounts.models import User

ENROLMENT_DAYS = 7
# No 0/O, 1/I/L: the code is read off a screen or paper and typed on a device's keypad.
ENROLMENT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
ENROLMENT_LENGTH = 12
CREDENTIAL_PREFIX = "ttcsd_"
# "ttcsd_" + token_urlsafe(32) is 49 characters; anything much longer is not ours.
_MAX_CREDENTIAL_LENGTH = 100
_CAPABILITY_RE = re.compile(r"^[0-9a-f]{64}$")


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- Enrolment codes ---------------------------------------------------------------------------


def _new_enrolment_code() -> str:
    return "".join(secrets.choice(ENROLMENT_ALPHABET) for _ in range(ENROLMENT_LENGTH))


def format_enrolment_code(code: str) -> str:
    """ "ABCDEFGHJKMN" -> "ABCD-EFGH-JKMN"."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_enrolment_code(text: str) -> str | None:
    """The code as issued (12 letters, upper case), or None if `text` cannot be one.

    Accepted with or without dashes and spaces, in any case.
    """
    if not isinstance(text, str) or len(text) > 40:
        return None
    code = re.sub(r"[\s-]", "", text).upper()
    if len(code) != ENROLMENT_LENGTH or any(ch not in ENROLMENT_ALPHABET for ch in code):
        return None
    return code


def _require_manage(actor: User | None, device: Device) -> None:
    from thongtincoso.accounts import policy
    from thongtincoso.accounts.roles import Action

    if actor is None:
        return
    if not policy.may(actor, Action.VIEW, device):
        raise NotFoundError(_("No such device."))
    if not policy.may(actor, Action.MANAGE_DEVICES, device):
        raise PermissionDeniedError(_("You may not manage this device."))


def _set_enrolment_code(device: Device, *, now: dt.datetime) -> str:
    code = _new_enrolment_code()
    device.enrolment_code_hash = sha256_hex(code)
    device.enrolment_expires_at = now + dt.timedelta(days=ENROLMENT_DAYS)
    return format_enrolment_code(code)


def enrolment_issue(*, actor: User | None, device: Device) -> str:
    """A new one-time enrolment code for the device ("XXXX-XXXX-XXXX"), valid ENROLMENT_DAYS.

    Any earlier code stops working. The device's current credential (if any) stays valid until
    the new code is exchanged, so re-enrolling a working device does not silence it.
    """
    _require_manage(actor, device)
    now = timezone.now()
    with transaction.atomic():
        code = _set_enrolment_code(device, now=now)
        device.save(update_fields=["enrolment_code_hash", "enrolment_expires_at", "updated_at"])
        audit_record(
            actor=actor,
            action="radio.device.enrolment_issue",
            obj=device,
            unit=device.commune,
            after={"enrolment_expires_at": now + dt.timedelta(days=ENROLMENT_DAYS)},
        )
    return code


# --- Credentials and capabilities --------------------------------------------------------------


def _new_credential() -> str:
    return CREDENTIAL_PREFIX + secrets.token_urlsafe(32)


def capability_for_hash(credential_hash: str) -> str:
    """The manifest file's unguessable name, from the stored hash of the credential."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, f"manifest:{credential_hash}".encode(), hashlib.sha256).hexdigest()


def capability_for(credential: str) -> str:
    """The manifest file's name for a bearer credential (no database query)."""
    return capability_for_hash(sha256_hex(credential))


def manifest_path(capability: str) -> Path:
    """Where the manifest file of a capability lives: `<root>/ab/<capability>.json`."""
    if not _CAPABILITY_RE.match(capability):
        raise ValueError("not a capability")
    return Path(settings.TTCS_MANIFEST_ROOT) / capability[:2] / f"{capability}.json"


def manifest_url(capability: str) -> str:
    return f"/device-manifests/{capability}.json"


def device_manifest_path(device: Device) -> Path | None:
    """The device's current manifest file (None when it holds no credential)."""
    if not device.credential_hash:
        return None
    return manifest_path(capability_for_hash(device.credential_hash))


def _delete_manifest(credential_hash: str | None) -> None:
    if not credential_hash:
        return
    manifest_path(capability_for_hash(credential_hash)).unlink(missing_ok=True)


def device_for_credential(token: str) -> Device | None:
    """The enrolled, not revoked device holding this credential (one indexed query)."""
    if not token or len(token) > _MAX_CREDENTIAL_LENGTH or not token.startswith(CREDENTIAL_PREFIX):
        return None
    return (
        Device.objects.select_related("commune", "zone")
        .filter(credential_hash=sha256_hex(token), revoked_at__isnull=True)
        .first()
    )


def _render(device: Device) -> None:
    from .manifests import refresh

    refresh([device])


def enrol(code: str) -> tuple[Device, str]:
    """Exchange a one-time enrolment code for the device's credential.

    The code is used up; the device's previous credential (if any) stops working and its manifest
    file is removed; the manifest is rendered at the new capability.
    """
    normalised = normalise_enrolment_code(code)
    wrong = ServiceError(
        _("This enrolment code is wrong, already used or expired. Ask for a new one."),
        field="enrolment_code",
    )
    if normalised is None:
        raise wrong
    code_hash = sha256_hex(normalised)
    now = timezone.now()
    credential = _new_credential()
    with transaction.atomic():
        device = (
            Device.objects.select_for_update()
            .filter(enrolment_code_hash=code_hash, enrolment_expires_at__gt=now)
            .first()
        )
        if device is None:
            raise wrong
        old_hash = device.credential_hash
        device.credential_hash = sha256_hex(credential)
        device.credential_issued_at = now
        device.enrolment_code_hash = None
        device.enrolment_expires_at = None
        device.enrolled_at = now
        device.revoked_at = None
        device.manifest_etag = ""
        device.save(
            update_fields=[
                "credential_hash",
                "credential_issued_at",
                "enrolment_code_hash",
                "enrolment_expires_at",
                "enrolled_at",
                "revoked_at",
                "manifest_etag",
                "updated_at",
            ]
        )
        audit_record(
            actor=None,
            action="radio.device.enrol",
            obj=device,
            unit=device.commune,
            after={"enrolled_at": now.isoformat(), "replaced_credential": bool(old_hash)},
        )
    _delete_manifest(old_hash)
    _render(device)
    return device, credential


def credential_rotate(device: Device) -> str:
    """A new credential for the device, asked for by the device itself.

    The old credential and its manifest URL stop working at once.
    """
    now = timezone.now()
    credential = _new_credential()
    with transaction.atomic():
        locked = Device.objects.select_for_update().get(pk=device.pk)
        old_hash = locked.credential_hash
        if old_hash is None or locked.revoked_at is not None:
            raise PermissionDeniedError(_("This device's credential is no longer valid."))
        device.credential_hash = sha256_hex(credential)
        device.credential_issued_at = now
        device.manifest_etag = ""
        device.save(
            update_fields=["credential_hash", "credential_issued_at", "manifest_etag", "updated_at"]
        )
        audit_record(
            actor=None,
            action="radio.device.credential_rotate",
            obj=device,
            unit=device.commune,
            after={"credential_issued_at": now.isoformat()},
        )
    _delete_manifest(old_hash)
    _render(device)
    return credential


def device_revoke(*, actor: User | None, device: Device, reason: str = "") -> Device:
    """Revoke the device: its credential and any enrolment code stop working at once, and its
    manifest file is removed, so the next request gets 401. Enrol it again to bring it back."""
    _require_manage(actor, device)
    reason = (reason or "").strip()[:500]
    now = timezone.now()
    with transaction.atomic():
        # The credential as it is now (the device may have rotated since the caller loaded it).
        old_hash = Device.objects.select_for_update().get(pk=device.pk).credential_hash
        device.credential_hash = None
        device.enrolment_code_hash = None
        device.enrolment_expires_at = None
        device.revoked_at = now
        device.manifest_etag = ""
        device.save(
            update_fields=[
                "credential_hash",
                "enrolment_code_hash",
                "enrolment_expires_at",
                "revoked_at",
                "manifest_etag",
                "updated_at",
            ]
        )
        audit_record(
            actor=actor,
            action="radio.device.revoke",
            obj=device,
            unit=device.commune,
            after={"revoked_at": now.isoformat(), "reason": reason},
        )
    _delete_manifest(old_hash)
    return device
