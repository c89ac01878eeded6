"""Helpers that make feedback for tests through the real services (no shortcuts past validation).

    fb = make_feedback(tree.hoankiem)                       # received, anonymous
    fb = make_feedback(tree.hoankiem, phone="0912345678", email="an@vidu.vn", name="Nguyễn Văn An")
    fb = accepted_feedback(tree.hoankiem, officer)          # status accepted
    fb = answered_feedback(tree.hoankiem, officer)          # answer published
    officer = make_officer(make_user, tree.hoankiem)        # a feedback officer of the unit

Other helpers' tests import these; keep the signatures stable.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from thongtincoso.accounts.models import User
from thongtincoso.accounts.roles import Role
from thongtincoso.feedback import services
from thongtincoso.feedback.models import Feedback
from thongtincoso.feedback.services import PhotoUpload, Submission
from thongtincoso.units.models import Unit

# A sender whose details tests look for in public output (they must never appear there).
SENDER_NAME = "Trần Thị Bích Ngọc"
SENDER_PHONE = "0912345678"
SENDER_EMAIL = "bich.ngoc.sender@vidu.vn"
DESCRIPTION = "Rác thải đổ trộm ở đầu ngõ 12 phố Hàng Bông đã ba ngày, bốc mùi khó chịu."


def jpeg_bytes(
    size: tuple[int, int] = (64, 48), color: tuple[int, int, int] = (200, 30, 30)
) -> bytes:
    """A small real JPEG."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG", quality=85)
    return out.getvalue()


def photo_upload(name: str = "anh.jpg", data: bytes | None = None) -> PhotoUpload:
    return PhotoUpload(stream=io.BytesIO(data if data is not None else jpeg_bytes()), name=name)


def submission(
    commune: Unit | str,
    category: str = "moi-truong",
    *,
    description: str = DESCRIPTION,
    address: str = "Ngõ 12 Hàng Bông",
    lat: Any = None,
    long: Any = None,
    attributes: dict[str, Any] | None = None,
    photos: int | list[PhotoUpload] = 0,
    name: str = "",
    phone: str = "",
    email: str = "",
    consent: bool | None = None,
    source: str = "web",
    device_id: str = "",
    keep_location: bool = False,
) -> Submission:
    """A valid Submission by default; override what a test is about."""
    uploads = (
        [photo_upload(f"anh{i}.jpg") for i in range(photos)] if isinstance(photos, int) else photos
    )
    return Submission(
        category=category,
        commune=commune.code if isinstance(commune, Unit) else commune,
        description=description,
        address=address,
        lat=lat,
        long=long,
        attributes=attributes or {},
        photos=uploads,
        keep_location=keep_location,
        name=name,
        phone=phone,
        email=email,
        # Leaving contact details through the web form needs consent; give it unless told not to.
        consent=bool(name or phone or email) if consent is None else consent,
        source=source,
        device_id=device_id,
    )


def make_feedback(
    commune: Unit | str,
    category: str = "moi-truong",
    *,
    actor: User | None = None,
    **fields: Any,
) -> Feedback:
    """A stored feedback (status received) from `commune`, through `services.feedback_submit`.

    Keyword arguments are those of `submission()` (description, address, lat, long, attributes,
    photos, name, phone, email, consent, source, device_id, keep_location).
    """
    return services.feedback_submit(submission=submission(commune, category, **fields), actor=actor)


def make_sender_feedback(
    commune: Unit | str, category: str = "moi-truong", **fields: Any
) -> Feedback:
    """A feedback with the known sender (SENDER_NAME, SENDER_PHONE, SENDER_EMAIL)."""
    fields.setdefault("name", SENDER_NAME)
    fields.setdefault("phone", SENDER_PHONE)
    fields.setdefault("email", SENDER_EMAIL)
    return make_feedback(commune, category, **fields)


def make_officer(make_user: Any, unit: Unit, username: str | None = None) -> User:
    """A feedback officer (Role.FEEDBACK_OFFICER) of `unit`; `make_user` is the conftest fixture."""
    return make_user(username, unit, role=Role.FEEDBACK_OFFICER)


def make_approver(make_user: Any, unit: Unit, username: str | None = None) -> User:
    return make_user(username, unit, role=Role.APPROVER)


def make_unit_admin(make_user: Any, unit: Unit, username: str | None = None) -> User:
    return make_user(username, unit, role=Role.UNIT_ADMIN)


def reload(feedback: Feedback) -> Feedback:
    return Feedback.objects.get(pk=feedback.pk)


def accepted_feedback(commune: Unit, officer: User, **fields: Any) -> Feedback:
    """A feedback the officer accepted (public from now on)."""
    feedback = make_feedback(commune, **fields)
    return services.feedback_accept(actor=officer, feedback=feedback)


def answered_feedback(
    commune: Unit, officer: User, *, answer: str = "Đã thu gom rác, cảm ơn bạn.", **fields: Any
) -> Feedback:
    """A feedback accepted and answered (the unit needs no approval unless a test sets it)."""
    feedback = accepted_feedback(commune, officer, **fields)
    services.answer_save(actor=officer, feedback=feedback, text=answer)
    services.answer_submit(actor=officer, feedback=feedback)
    return reload(feedback)
