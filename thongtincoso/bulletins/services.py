"""Bulletin services: writing, the approval workflow, relay down the tree, the commune inbox.

Every function takes `actor=` keyword-only, checks the policy, runs in one transaction and writes
its audit record inside it. A transition not allowed from the current state raises ConflictError
(409) and changes nothing; an edit based on an old version raises ConflictError too (optimistic
locking), so the first of two concurrent saves is kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from thongtincoso.accounts import policy
from thongtincoso.accounts.models import RoleAssignment, User
from thongtincoso.accounts.roles import ROLE_ACTIONS, Action
from thongtincoso.audit.services import audit_record
from thongtincoso.core.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ServiceError,
    full_clean_or_raise,
)
from thongtincoso.notifications.services import notify
from thongtincoso.units.models import Unit, UnitKind

from . import content, uploads
from .models import (
    EDITABLE_STATUSES,
    MAX_YEAR,
    MIN_YEAR,
    Attachment,
    Bulletin,
    Category,
    Channel,
    Delivery,
    DeliveryStatus,
    EditorialSettings,
    Language,
    Priority,
    Review,
    ReviewState,
    Revision,
    Status,
    Tag,
)

if TYPE_CHECKING:
    from collections.abc import Callable

# Sent after the transaction commits. Broadcasting (issue 5) connects here: `bulletin_published`
# for every publication, `emergency_relayed` with the communes whose stations must air at once.
bulletin_published = Signal()  # kwargs: bulletin
emergency_relayed = Signal()  # kwargs: bulletin, commune_ids
# A published bulletin left the air (withdrawn, expired, reopened as a draft): plans drop it.
bulletin_unpublished = Signal()  # kwargs: bulletin
# A commune decided on a relayed item (accepted, declined, reordered): its station re-plans.
delivery_changed = Signal()  # kwargs: delivery


def _send_unpublished(bulletin: Bulletin) -> None:
    transaction.on_commit(lambda: bulletin_unpublished.send(sender=Bulletin, bulletin=bulletin))


def _send_delivery_changed(delivery: Delivery) -> None:
    transaction.on_commit(lambda: delivery_changed.send(sender=Delivery, delivery=delivery))


RELAY_BATCH = 1000
MAX_TAGS = 10
DEFAULT_CHANNELS = [Channel.RADIO, Channel.PORTAL]


# --- The transition table ------------------------------------------------------------------


@dataclass(frozen=True)
class Transition:
    name: str
    sources: frozenset[str]
    target: str
    # The actor needs at least one of these on the bulletin's unit.
    actions: frozenset[str]


TRANSITIONS: dict[str, Transition] = {
    t.name: t
    for t in [
        Transition("submit", frozenset({Status.DRAFT, Status.RETURNED}), Status.SUBMITTED,
                   frozenset({Action.EDIT})),
        # The author takes a submitted bulletin back to change it.
        Transition("recall", frozenset({Status.SUBMITTED}), Status.DRAFT,
                   frozenset({Action.EDIT})),
        Transition("approve", frozenset({Status.SUBMITTED}), Status.APPROVED,
                   frozenset({Action.APPROVE})),
        Transition("return", frozenset({Status.SUBMITTED}), Status.RETURNED,
                   frozenset({Action.APPROVE})),
        # An approved bulletin is published when its validity starts; "publish" does it now.
        Transition("publish", frozenset({Status.APPROVED}), Status.PUBLISHED,
                   frozenset({Action.EDIT, Action.APPROVE})),
        # Taking information back from the public is a leader's decision.
        Transition("withdraw", frozenset({Status.APPROVED, Status.PUBLISHED}), Status.WITHDRAWN,
                   frozenset({Action.APPROVE})),
        # Changing an approved or withdrawn bulletin means a new approval.
        Transition("reopen", frozenset({Status.APPROVED, Status.WITHDRAWN}), Status.DRAFT,
                   frozenset({Action.EDIT})),
    ]
}  # fmt: skip


def allowed_transitions(user: Any, bulletin: Bulletin) -> list[str]:
    """Transitions the user may attempt now (for buttons; the services check again)."""
    return [
        t.name
        for t in TRANSITIONS.values()
        if bulletin.status in t.sources and any(policy.may(user, a, bulletin) for a in t.actions)
    ]


def _require(actor: User | None, actions: Iterable[str], bulletin: Bulletin) -> None:
    actions = list(actions)
    if any(policy.may(actor, a, bulletin) for a in actions):
        return
    if policy.may(actor, Action.VIEW, bulletin):
        raise PermissionDeniedError(_("You are not allowed to do this with this bulletin."))
    raise NotFoundError(_("Bulletin not found."))


def _locked(bulletin: Bulletin) -> Bulletin:
    """Re-read the bulletin under a row lock, so two transitions cannot both pass the check."""
    return Bulletin.objects.select_for_update().select_related("unit").get(pk=bulletin.pk)


def _check_state(bulletin: Bulletin, transition: Transition) -> None:
    if bulletin.status not in transition.sources:
        raise ConflictError(
            _("A bulletin that is “%(status)s” cannot be %(verb)s.")
            % {"status": bulletin.get_status_display(), "verb": _transition_verb(transition.name)}
        )


def _transition_verb(name: str) -> str:
    return {
        "submit": _("submitted"),
        "recall": _("recalled"),
        "approve": _("approved"),
        "return": _("returned"),
        "publish": _("published"),
        "withdraw": _("withdrawn"),
        "reopen": _("reopened"),
    }[name]


def _audit_transition(
    actor: User | None, bulletin: Bulletin, name: str, before: str, **extra: Any
) -> None:
    audit_record(
        actor=actor,
        action=f"bulletins.bulletin.{name}",
        obj=bulletin,
        unit=bulletin.unit,
        before={"status": before},
        after={"status": bulletin.status, **extra},
    )


# --- Writing -------------------------------------------------------------------------------

CONTENT_FIELDS = {
    "title",
    "summary",
    "body",
    "reading_text",
    "category",
    "language",
    "channels",
    "priority",
    "valid_from",
    "valid_until",
    "targets",
    "tags",
    "source_note",
}


def bulletin_create(*, actor: User | None, unit: Unit, **fields: Any) -> Bulletin:
    """A new draft owned by `unit`. Fields as in `bulletin_update`; title and category needed."""
    if not policy.may(actor, Action.EDIT, unit):
        raise NotFoundError(_("Unit not found."))
    if not unit.is_current:
        raise ServiceError(_("Bulletins can only be written for a unit in force."))
    assert actor is not None
    bulletin = Bulletin(unit=unit, author=actor, valid_from=timezone.now())
    bulletin.channels = list(DEFAULT_CHANNELS)
    with transaction.atomic():
        targets, tags = _apply(bulletin, fields, creating=True)
        full_clean_or_raise(bulletin)
        bulletin.save()
        bulletin.targets.set(targets if targets is not None else [unit])
        bulletin.tags.set(tags or [])
        revision = _save_revision(bulletin, actor, autosave=False)
        audit_record(
            actor=actor,
            action="bulletins.bulletin.create",
            obj=bulletin,
            unit=unit,
            after={**_snapshot(bulletin), "revision": revision.number},
        )
    return bulletin


def bulletin_update(
    *,
    actor: User | None,
    bulletin: Bulletin,
    version: int,
    autosave: bool = False,
    **fields: Any,
) -> Bulletin:
    """Change a draft (or returned) bulletin's content, based on the `version` the editor saw.

    Every save keeps a revision. Autosaves by the same person overwrite their previous autosave
    revision instead of piling up one per minute; explicit saves always add one.
    """
    _require(actor, [Action.EDIT], bulletin)
    assert actor is not None
    with transaction.atomic():
        current = _locked(bulletin)
        if current.version != version:
            raise ConflictError(
                _(
                    "Someone else saved this bulletin after you opened it. Your changes were "
                    "not saved; reload to see their version, then make your changes again."
                )
            )
        if current.status not in EDITABLE_STATUSES:
            raise ConflictError(
                _("A bulletin that is “%(status)s” cannot be edited; reopen it first.")
                % {"status": current.get_status_display()}
            )
        before = _snapshot(current)
        targets, tags = _apply(current, fields, creating=False)
        full_clean_or_raise(current)
        current.version = F("version") + 1
        current.save()
        current.refresh_from_db()
        if targets is not None:
            current.targets.set(targets)
        if tags is not None:
            current.tags.set(tags)
        revision = _save_revision(current, actor, autosave=autosave)
        after = _snapshot(current)
        audit_record(
            actor=actor,
            action="bulletins.bulletin.autosave" if autosave else "bulletins.bulletin.update",
            obj=current,
            unit=current.unit,
            before={k: v for k, v in before.items() if after.get(k) != v},
            after={
                **{k: v for k, v in after.items() if before.get(k) != v},
                "revision": revision.number,
            },
        )
    return current


def _apply(
    bulletin: Bulletin, fields: dict[str, Any], *, creating: bool
) -> tuple[list[Unit] | None, list[Tag] | None]:
    """Validate and set content fields; return targets and tags to set after saving."""
    unknown = set(fields) - CONTENT_FIELDS
    if unknown:
        raise ServiceError(_("Unknown field: %(f)s.") % {"f": ", ".join(sorted(unknown))})
    if "title" in fields or creating:
        title = _plain(fields.get("title", ""))
        if not title:
            raise ServiceError(_("Enter a title."), field="title")
        bulletin.title = title
    if "summary" in fields:
        bulletin.summary = _plain(fields["summary"] or "")
    if "source_note" in fields:
        bulletin.source_note = _plain(fields["source_note"] or "")
    if "body" in fields:
        bulletin.body = content.sanitise_html(fields["body"] or "")
    if "reading_text" in fields and fields["reading_text"] is not None:
        text = _plain_multiline(fields["reading_text"])
        derived = content.html_to_text(bulletin.body)
        bulletin.reading_text_edited = bool(text) and text != derived
    if not bulletin.reading_text_edited:
        bulletin.reading_text = content.html_to_text(bulletin.body)
    elif "reading_text" in fields and fields["reading_text"] is not None:
        bulletin.reading_text = _plain_multiline(fields["reading_text"])
    if "category" in fields or creating:
        bulletin.category = _choose(Category, fields.get("category"), "category")
    if "language" in fields or creating:
        bulletin.language = _choose(Language, fields.get("language", "vi"), "language")
    if "channels" in fields:
        channels = list(dict.fromkeys(fields["channels"] or []))
        if not channels:
            raise ServiceError(_("Choose at least one channel."), field="channels")
        bad = [c for c in channels if c not in Channel.values]
        if bad:
            raise ServiceError(
                _("Unknown channel: %(c)s.") % {"c": ", ".join(map(str, bad))}, field="channels"
            )
        bulletin.channels = channels
    bulletin.on_portal = Channel.PORTAL in bulletin.channels
    if "priority" in fields:
        if fields["priority"] not in Priority.values:
            raise ServiceError(_("Choose normal, priority or emergency."), field="priority")
        bulletin.priority = fields["priority"]
    if "valid_from" in fields:
        bulletin.valid_from = _plausible(fields["valid_from"], "valid_from") or timezone.now()
    if "valid_until" in fields:
        bulletin.valid_until = _plausible(fields["valid_until"], "valid_until")
    if bulletin.valid_until and bulletin.valid_until <= bulletin.valid_from:
        raise ServiceError(_("The end of validity must come after its start."), field="valid_until")
    targets = _targets(bulletin, fields["targets"]) if "targets" in fields else None
    tags = _tags(fields["tags"]) if "tags" in fields else None
    return targets, tags


def _plausible(value: dt.datetime | None, field: str) -> dt.datetime | None:
    """A date within MIN_YEAR..MAX_YEAR (or none): every entry point gets the same refusal."""
    if value is not None and not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ServiceError(
            _("Enter a date between the years %(first)d and %(last)d.")
            % {"first": MIN_YEAR, "last": MAX_YEAR},
            field=field,
        )
    return value


def _plain(value: Any) -> str:
    # One line, no control characters; templates escape it on output.
    text = str(value or "")
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def _plain_multiline(value: Any) -> str:
    lines = str(value or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(_plain(line) for line in lines).strip()


def _choose(model: type[Category] | type[Language], value: Any, field: str) -> Any:
    if isinstance(value, model):
        value = value.code
    found = model.objects.filter(code=str(value or ""), is_active=True).first()
    if found is None:
        message = (
            _("Choose a category from the list.")
            if field == "category"
            else _("Choose a language from the list.")
        )
        raise ServiceError(message, field=field)
    return found


def _targets(bulletin: Bulletin, values: Iterable[Any]) -> list[Unit]:
    """Target units: the owner itself or units below it, in force; codes or Unit objects."""
    codes = [v.code if isinstance(v, Unit) else str(v).strip() for v in (values or [])]
    codes = [c for c in dict.fromkeys(codes) if c]
    if not codes:
        return [bulletin.unit]
    found = {
        u.code: u
        for u in Unit.objects.current()
        .subtree_of(bulletin.unit)
        .filter(code__in=codes)
        .only("pk", "code", "path", "kind", "parent_id")
    }
    missing = [c for c in codes if c not in found]
    if missing:
        raise ServiceError(
            _("These target units are not in force under %(unit)s: %(codes)s.")
            % {"unit": bulletin.unit.name, "codes": ", ".join(missing[:10])},
            field="targets",
        )
    return [found[c] for c in codes]


def _tags(values: Iterable[Any]) -> list[Tag]:
    names = [_plain(v)[:50] for v in (values or [])]
    names = list(dict.fromkeys(n for n in names if n))
    if len(names) > MAX_TAGS:
        raise ServiceError(_("At most %(n)d tags.") % {"n": MAX_TAGS}, field="tags")
    tags = []
    for name in names:
        tag, _created = Tag.objects.get_or_create(name=name)
        tags.append(tag)
    return tags


def _snapshot(bulletin: Bulletin) -> dict[str, Any]:
    """Everything about a bulletin's content, as plain JSON (revisions and audit)."""
    return {
        "title": bulletin.title,
        "summary": bulletin.summary,
        "body": bulletin.body,
        "reading_text": bulletin.reading_text,
        "category": bulletin.category.code,
        "language": bulletin.language.code,
        "channels": list(bulletin.channels),
        "priority": bulletin.priority,
        "valid_from": bulletin.valid_from.isoformat() if bulletin.valid_from else None,
        "valid_until": bulletin.valid_until.isoformat() if bulletin.valid_until else None,
        "targets": sorted(bulletin.targets.values_list("code", flat=True)) if bulletin.pk else [],
        "tags": sorted(bulletin.tags.values_list("name", flat=True)) if bulletin.pk else [],
        "source_note": bulletin.source_note,
    }


def _save_revision(bulletin: Bulletin, actor: User, *, autosave: bool) -> Revision:
    snapshot = _snapshot(bulletin)
    details = {
        k: v for k, v in snapshot.items() if k not in {"title", "summary", "body", "reading_text"}
    }
    last = bulletin.revisions.order_by("-number").first()
    if (
        autosave
        and last is not None
        and last.details.get("autosave")
        and last.author_id == actor.pk
        and not Review.objects.filter(revision=last).exists()
    ):
        revision = last  # overwrite the previous autosave of the same person
    else:
        revision = Revision(
            bulletin=bulletin, number=(last.number + 1) if last else 1, author=actor
        )
    revision.title = bulletin.title
    revision.summary = bulletin.summary
    revision.body = bulletin.body
    revision.reading_text = bulletin.reading_text
    revision.details = {**details, "autosave": autosave}
    revision.save()
    return revision


# --- Attachments ---------------------------------------------------------------------------


def attachment_add(
    *, actor: User | None, bulletin: Bulletin, stream: IO[bytes], name: str
) -> Attachment:
    """Attach a file checked by content (type and size) to an editable bulletin."""
    _require(actor, [Action.EDIT], bulletin)
    assert actor is not None
    name = _plain(name)[:200] or "file"
    checked = uploads.check_upload(stream, name=name)
    attachment = Attachment(
        bulletin=bulletin,
        kind=checked.kind,
        original_name=name,
        content_type=checked.content_type,
        extension=checked.extension,
        size=checked.size,
        sha256=checked.sha256,
        uploaded_by=actor,
    )
    # The file is stored first; if the transaction below fails it is removed again, so a
    # refused upload leaves neither a row nor a file behind.
    attachment.file.save(name, File(stream, name=name), save=False)
    try:
        with transaction.atomic():
            current = _locked(bulletin)
            if current.status not in EDITABLE_STATUSES:
                raise ConflictError(
                    _("Attachments can only be changed while the bulletin is a draft.")
                )
            if current.attachments.count() >= uploads.MAX_ATTACHMENTS:
                raise ServiceError(
                    _("At most %(n)d attachments per bulletin.") % {"n": uploads.MAX_ATTACHMENTS},
                    field="file",
                )
            attachment.save()
            audit_record(
                actor=actor,
                action="bulletins.attachment.add",
                obj=attachment,
                unit=current.unit,
                after={
                    "bulletin": current.pk,
                    "name": name,
                    "kind": checked.kind,
                    "size": checked.size,
                    "sha256": checked.sha256,
                },
            )
    except Exception:
        attachment.file.delete(save=False)
        raise
    return attachment


def attachment_remove(*, actor: User | None, attachment: Attachment) -> None:
    bulletin = attachment.bulletin
    _require(actor, [Action.EDIT], bulletin)
    with transaction.atomic():
        current = _locked(bulletin)
        if current.status not in EDITABLE_STATUSES:
            raise ConflictError(_("Attachments can only be changed while the bulletin is a draft."))
        audit_record(
            actor=actor,
            action="bulletins.attachment.remove",
            obj=attachment,
            unit=current.unit,
            before={"bulletin": current.pk, "name": attachment.original_name},
        )
        path_in_use_elsewhere = (
            Attachment.objects.filter(file=attachment.file.name).exclude(pk=attachment.pk).exists()
        )
        name = attachment.file.name
        storage = attachment.file.storage
        attachment.delete()
        if not path_in_use_elsewhere:
            transaction.on_commit(lambda: storage.delete(name))


# --- Workflow ------------------------------------------------------------------------------


def bulletin_submit(*, actor: User | None, bulletin: Bulletin) -> Bulletin:
    """Ask for approval: one pending review (the database allows no second one)."""
    t = TRANSITIONS["submit"]
    _require(actor, t.actions, bulletin)
    assert actor is not None
    with transaction.atomic():
        current = _locked(bulletin)
        _check_state(current, t)
        revision = current.revisions.order_by("-number").first()
        assert revision is not None
        try:
            with transaction.atomic():
                Review.objects.create(bulletin=current, revision=revision, requested_by=actor)
        except IntegrityError as exc:
            raise ConflictError(_("This bulletin is already waiting for approval.")) from exc
        before = current.status
        current.status = Status.SUBMITTED
        current.save(update_fields=["status", "updated_at"])
        _audit_transition(actor, current, "submit", before, revision=revision.number)
        _notify_approvers(current, actor)
    return current


def bulletin_recall(*, actor: User | None, bulletin: Bulletin) -> Bulletin:
    t = TRANSITIONS["recall"]
    _require(actor, t.actions, bulletin)
    with transaction.atomic():
        current = _locked(bulletin)
        _check_state(current, t)
        current.reviews.filter(state=ReviewState.PENDING).update(
            state=ReviewState.CANCELLED, decided_by=actor, decided_at=timezone.now()
        )
        before = current.status
        current.status = Status.DRAFT
        current.save(update_fields=["status", "updated_at"])
        _audit_transition(actor, current, "recall", before)
    return current


def approval_blocker(actor: User | None, bulletin: Bulletin) -> str | None:
    """Why this person may not approve this bulletin under the unit's rules (None: they may)."""
    rules = editorial_settings_for(bulletin.unit)
    if rules.four_eyes and actor is not None and actor.pk == bulletin.author_id:
        return _("The author of a bulletin cannot approve it (four-eyes rule).")
    if rules.four_eyes and actor is not None:
        pending = bulletin.reviews.filter(state=ReviewState.PENDING).first()
        if pending is not None and pending.requested_by_id == actor.pk:
            return _("Whoever submitted a bulletin cannot approve it (four-eyes rule).")
    if rules.own_unit_approval and not any(
        g.unit_id == bulletin.unit_id and g.allows(Action.APPROVE) for g in policy.grants(actor)
    ):
        return _(
            "This unit's bulletins must be approved by an approver appointed in the unit itself."
        )
    return None


def bulletin_approve(*, actor: User | None, bulletin: Bulletin, comment: str = "") -> Bulletin:
    """Approve; a bulletin whose validity has started is published (and relayed) at once."""
    t = TRANSITIONS["approve"]
    _require(actor, t.actions, bulletin)
    assert actor is not None
    with transaction.atomic():
        current = _locked(bulletin)
        _check_state(current, t)
        blocker = approval_blocker(actor, current)
        if blocker:
            raise PermissionDeniedError(blocker)
        now = timezone.now()
        current.reviews.filter(state=ReviewState.PENDING).update(
            state=ReviewState.APPROVED, decided_by=actor, decided_at=now, comment=_plain(comment)
        )
        before = current.status
        current.status = Status.APPROVED
        current.approved_by = actor
        current.approved_at = now
        current.save(update_fields=["status", "approved_by", "approved_at", "updated_at"])
        _audit_transition(actor, current, "approve", before, comment=_plain(comment))
        _notify_author(current, gettext_noop("Your bulletin “%(title)s” was approved."))
        if current.valid_from <= now:
            _publish(current, actor)
    return current


def bulletin_return(*, actor: User | None, bulletin: Bulletin, comment: str) -> Bulletin:
    """Send back for changes; the comment says what to change."""
    t = TRANSITIONS["return"]
    _require(actor, t.actions, bulletin)
    comment = _plain_multiline(comment)
    if not comment:
        raise ServiceError(_("Say what the author should change."), field="comment")
    with transaction.atomic():
        current = _locked(bulletin)
        _check_state(current, t)
        current.reviews.filter(state=ReviewState.PENDING).update(
            state=ReviewState.RETURNED, decided_by=actor, decided_at=timezone.now(), comment=comment
        )
        before = current.status
        current.status = Status.RETURNED
        current.save(update_fields=["status", "updated_at"])
        _audit_transition(actor, current, "return", before, comment=comment)
        _notify_author(current, gettext_noop("Your bulletin “%(title)s” was returned for changes."))
    return current


def bulletin_publish(*, actor: User | None, bulletin: Bulletin) -> Bulletin:
    """Publish an approved bulletin now, even if its validity was to start later."""
    t = TRANSITIONS["publish"]
    _require(actor, t.actions, bulletin)
    with transaction.atomic():
        current = _locked(bulletin)
        _check_state(current, t)
        _publish(current, actor)
    return current


def bulletin_withdraw(*, actor: User | None, bulletin: Bulletin, reason: str) -> Bulletin:
    t = TRANSITIONS["withdraw"]
    _require(actor, t.actions, bulletin)
    reason = _plain(reason)
    if not reason:
        raise ServiceError(_("Give the reason for withdrawing the bulletin."), field="reason")
    with transaction.atomic():
        current = _locked(bulletin)
        _check_state(current, t)
        before = current.status
        current.status = Status.WITHDRAWN
        current.ended_at = timezone.now()
        current.end_reason = reason[:500]
        current.save(update_fields=["status", "ended_at", "end_reason", "updated_at"])
        _audit_transition(actor, current, "withdraw", before, reason=reason)
        _send_unpublished(current)
    return current


def bulletin_reopen(*, actor: User | None, bulletin: Bulletin) -> Bulletin:
    t = TRANSITIONS["reopen"]
    _require(actor, t.actions, bulletin)
    with transaction.atomic():
        current = _locked(bulletin)
        _check_state(current, t)
        before = current.status
        current.status = Status.DRAFT
        # A draft again: the earlier approval and withdrawal no longer describe it.
        current.approved_by = None
        current.approved_at = None
        current.ended_at = None
        current.end_reason = ""
        current.save(
            update_fields=[
                "status",
                "approved_by",
                "approved_at",
                "ended_at",
                "end_reason",
                "updated_at",
            ]
        )
        _audit_transition(actor, current, "reopen", before)
        if before in (Status.PUBLISHED, Status.WITHDRAWN, Status.EXPIRED):
            _send_unpublished(current)
    return current


TRANSITION_SERVICES: dict[str, Callable[..., Bulletin]] = {
    "submit": bulletin_submit,
    "recall": bulletin_recall,
    "approve": bulletin_approve,
    "return": bulletin_return,
    "publish": bulletin_publish,
    "withdraw": bulletin_withdraw,
    "reopen": bulletin_reopen,
}


def _publish(bulletin: Bulletin, actor: User | None) -> None:
    now = timezone.now()
    before = bulletin.status
    bulletin.status = Status.PUBLISHED
    bulletin.published_at = now
    if bulletin.valid_from > now:
        bulletin.valid_from = now
    bulletin.save(update_fields=["status", "published_at", "valid_from", "updated_at"])
    _audit_transition(actor, bulletin, "publish", before)
    relay(bulletin, actor=actor)
    transaction.on_commit(lambda: bulletin_published.send(sender=Bulletin, bulletin=bulletin))


def bulletins_publish_due(*, now: dt.datetime | None = None) -> int:
    """Publish approved bulletins whose validity has started (periodic task)."""
    now = now or timezone.now()
    count = 0
    for pk in Bulletin.objects.filter(status=Status.APPROVED, valid_from__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            current = Bulletin.objects.select_for_update().select_related("unit").get(pk=pk)
            if current.status == Status.APPROVED and current.valid_from <= now:
                _publish(current, None)
                count += 1
    return count


def bulletins_expire_due(*, now: dt.datetime | None = None) -> int:
    """Expire published bulletins whose validity ended (periodic task)."""
    now = now or timezone.now()
    count = 0
    for pk in Bulletin.objects.filter(status=Status.PUBLISHED, valid_until__lte=now).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            current = Bulletin.objects.select_for_update().select_related("unit").get(pk=pk)
            if current.status != Status.PUBLISHED:
                continue
            current.status = Status.EXPIRED
            current.ended_at = now
            current.save(update_fields=["status", "ended_at", "updated_at"])
            _audit_transition(None, current, "expire", Status.PUBLISHED)
            _send_unpublished(current)
            count += 1
    return count


# --- Relay down the tree -------------------------------------------------------------------


def relay_communes(bulletin: Bulletin) -> dict[int, list[str]]:
    """Target communes other than the owner: {commune id: zone codes (empty = whole commune)}."""
    communes: dict[int, list[str]] = {}
    whole: set[int] = set()  # communes targeted themselves: all their zones, whatever else is
    wide: list[Unit] = []
    for target in bulletin.targets.all().only("pk", "code", "kind", "path", "parent_id"):
        if target.kind == UnitKind.COMMUNE:
            communes.setdefault(target.pk, [])
            whole.add(target.pk)
        elif target.kind == UnitKind.ZONE:
            communes.setdefault(target.parent_id or 0, []).append(target.code)
        else:
            wide.append(target)
    if wide:
        condition = Q()
        for unit in wide:
            condition |= Q(path__gt=unit.path, path__lt=_upper(unit.path))
        for pk in (
            Unit.objects.current()
            .filter(condition, kind=UnitKind.COMMUNE)
            .values_list("pk", flat=True)
        ):
            communes[pk] = []  # a province-wide target covers the whole commune
    for pk in whole:
        communes[pk] = []
    communes.pop(bulletin.unit_id, None)
    communes.pop(0, None)
    return communes


def _upper(path: str) -> str:
    from thongtincoso.units.models import path_upper_bound

    return path_upper_bound(path)


def relay(bulletin: Bulletin, *, actor: User | None) -> int:
    """Put the bulletin in every target commune's inbox, with the TT 39 meaning of its priority.

    Runs inside the publishing transaction: all inbox items are created or none. Batched inserts,
    so the number of queries grows with batches, not with communes.
    """
    communes = relay_communes(bulletin)
    now = timezone.now()
    priority = bulletin.priority
    automatic = priority in (Priority.PRIORITY, Priority.EMERGENCY)
    status = DeliveryStatus.ACCEPTED if automatic else DeliveryStatus.RECEIVED
    existing = Delivery.objects.filter(bulletin=bulletin)
    already = set(existing.values_list("commune_id", flat=True))
    removed = _refresh_earlier_items(bulletin, communes, now) if already else 0
    if not communes:
        return 0
    rows = [
        Delivery(
            bulletin=bulletin,
            commune_id=commune_id,
            zone_codes=zones,
            priority=priority,
            status=status,
            decided_at=now if automatic else None,
            emergency_at=now if priority == Priority.EMERGENCY else None,
        )
        for commune_id, zones in communes.items()
        if commune_id not in already
    ]
    Delivery.objects.bulk_create(rows, batch_size=RELAY_BATCH)
    bulletin.relayed_at = now
    Bulletin.objects.filter(pk=bulletin.pk).update(relayed_at=now)
    audit_record(
        actor=actor,
        action="bulletins.bulletin.relay",
        obj=bulletin,
        unit=bulletin.unit,
        # "removed": items of an earlier publication dropped because their commune is no
        # longer a target (only on a republication that changed the targets).
        after={
            "communes": len(rows),
            "priority": priority,
            **({"removed": removed} if removed else {}),
        },
    )
    if priority == Priority.EMERGENCY:
        ids = sorted(communes)
        transaction.on_commit(
            lambda: emergency_relayed.send(sender=Bulletin, bulletin=bulletin, commune_ids=ids)
        )
    return len(rows)


def _refresh_earlier_items(bulletin: Bulletin, communes: dict[int, list[str]], now: Any) -> int:
    """Published again (after reopen): the earlier inbox items follow the bulletin as it is now.

    Communes no longer targeted lose their item, unless broadcasting already scheduled or aired
    it (that stays as history). The others take the new priority and zones, and TT 39 applies
    to the new priority: priority and emergency items air, declined earlier or not. Returns the
    number of items removed.
    """
    priority = bulletin.priority
    existing = Delivery.objects.filter(bulletin=bulletin)
    removed, _ = (
        existing.exclude(commune_id__in=list(communes))
        .filter(
            status__in=[DeliveryStatus.RECEIVED, DeliveryStatus.ACCEPTED, DeliveryStatus.DECLINED]
        )
        .delete()
    )
    kept = existing.filter(commune_id__in=list(communes))
    kept.update(priority=priority, emergency_at=now if priority == Priority.EMERGENCY else None)
    if priority in (Priority.PRIORITY, Priority.EMERGENCY):
        kept.filter(status__in=[DeliveryStatus.RECEIVED, DeliveryStatus.DECLINED]).update(
            status=DeliveryStatus.ACCEPTED, decline_reason="", decided_by=None, decided_at=now
        )
    changed = [
        Delivery(pk=pk, zone_codes=communes[commune_id])
        for pk, commune_id, zones in kept.values_list("pk", "commune_id", "zone_codes")
        if zones != communes[commune_id]
    ]
    Delivery.objects.bulk_update(changed, ["zone_codes"], batch_size=RELAY_BATCH)
    return removed


# --- The commune inbox ---------------------------------------------------------------------

INBOX_ACTIONS = (Action.EDIT, Action.BROADCAST)


def _require_inbox(actor: User | None, delivery: Delivery) -> None:
    if any(policy.may(actor, a, delivery.commune) for a in INBOX_ACTIONS):
        return
    if policy.may(actor, Action.VIEW, delivery.commune):
        raise PermissionDeniedError(_("You are not allowed to decide on this commune's inbox."))
    raise NotFoundError(_("Inbox item not found."))


def _locked_delivery(delivery: Delivery) -> Delivery:
    return (
        Delivery.objects.select_for_update()
        .select_related("commune", "bulletin", "bulletin__unit")
        .get(pk=delivery.pk)
    )


def _audit_delivery(
    actor: User | None, delivery: Delivery, verb: str, before: str, **extra: Any
) -> None:
    audit_record(
        actor=actor,
        action=f"bulletins.delivery.{verb}",
        obj=delivery,
        unit=delivery.commune,
        object_repr=f"{delivery.bulletin.title[:200]} → {delivery.commune.code}",
        before={"status": before},
        after={"status": delivery.status, "bulletin": delivery.bulletin_id, **extra},
    )


def delivery_accept(
    *, actor: User | None, delivery: Delivery, air_from: dt.datetime | None = None
) -> Delivery:
    """The commune will air a relayed normal item (from `air_from`, when it says so)."""
    _require_inbox(actor, delivery)
    _plausible(air_from, "air_from")
    with transaction.atomic():
        current = _locked_delivery(delivery)
        if current.status not in (
            DeliveryStatus.RECEIVED,
            DeliveryStatus.DECLINED,
            DeliveryStatus.ACCEPTED,
        ):
            raise ConflictError(
                _("This item is already “%(status)s”.") % {"status": current.get_status_display()}
            )
        if current.bulletin.status != Status.PUBLISHED:
            raise ConflictError(_("The bulletin is no longer published."))
        before = current.status
        current.status = DeliveryStatus.ACCEPTED
        current.air_from = air_from
        current.decline_reason = ""
        current.decided_by = actor
        current.decided_at = timezone.now()
        current.save()
        _audit_delivery(
            actor, current, "accept", before, air_from=air_from.isoformat() if air_from else None
        )
        _send_delivery_changed(current)
    return current


def delivery_decline(*, actor: User | None, delivery: Delivery, reason: str) -> Delivery:
    """Decline a relayed normal item with a reason. Priority and emergency items must air."""
    _require_inbox(actor, delivery)
    reason = _plain(reason)
    if not reason:
        raise ServiceError(_("Give the reason for declining."), field="reason")
    with transaction.atomic():
        current = _locked_delivery(delivery)
        if current.priority != Priority.NORMAL:
            raise ConflictError(
                _("Priority and emergency bulletins cannot be declined (Circular 39/2020).")
            )
        if current.status not in (DeliveryStatus.RECEIVED, DeliveryStatus.ACCEPTED):
            raise ConflictError(
                _("This item is already “%(status)s”.") % {"status": current.get_status_display()}
            )
        before = current.status
        current.status = DeliveryStatus.DECLINED
        current.decline_reason = reason[:500]
        current.decided_by = actor
        current.decided_at = timezone.now()
        current.save()
        _audit_delivery(actor, current, "decline", before, reason=reason)
        _send_delivery_changed(current)
    return current


def delivery_reorder(*, actor: User | None, commune: Unit, delivery_ids: list[int]) -> int:
    """The commune's order of its relayed priority items (first airs first)."""
    if not any(policy.may(actor, a, commune) for a in INBOX_ACTIONS):
        # Like accept and decline: someone who sees the inbox but may not decide gets 403.
        if policy.may(actor, Action.VIEW, commune):
            raise PermissionDeniedError(_("You are not allowed to decide on this commune's inbox."))
        raise NotFoundError(_("Unit not found."))
    with transaction.atomic():
        items = {
            d.pk: d
            for d in Delivery.objects.select_for_update().filter(
                commune=commune, priority=Priority.PRIORITY, pk__in=delivery_ids
            )
        }
        if len(items) != len(set(delivery_ids)):
            raise ServiceError(_("Some items are not priority items of this commune."))
        for position, pk in enumerate(delivery_ids, start=1):
            items[pk].position = position
        Delivery.objects.bulk_update(items.values(), ["position"])
        audit_record(
            actor=actor,
            action="bulletins.delivery.reorder",
            unit=commune,
            object_type="bulletins.delivery",
            object_repr=commune.name,
            after={"order": delivery_ids},
        )
        if items:  # one commune, one station: a single notice is enough
            _send_delivery_changed(next(iter(items.values())))
    return len(items)


def delivery_adapt(*, actor: User | None, delivery: Delivery) -> Bulletin:
    """A local draft copy of a relayed bulletin, linked to its origin, for the commune to edit."""
    _require_inbox(actor, delivery)
    if not policy.may(actor, Action.EDIT, delivery.commune):
        raise PermissionDeniedError(_("Only the commune's editors can adapt a bulletin."))
    assert actor is not None
    with transaction.atomic():
        current = _locked_delivery(delivery)
        if current.local_copy_id:
            raise ConflictError(_("This bulletin already has a local adaptation."))
        if current.bulletin.status != Status.PUBLISHED:
            raise ConflictError(_("The bulletin is no longer published."))
        origin = current.bulletin
        zones = list(
            Unit.objects.current().filter(code__in=current.zone_codes, parent=current.commune)
        )
        copy = bulletin_create(
            actor=actor,
            unit=current.commune,
            title=origin.title,
            summary=origin.summary,
            body=origin.body,
            reading_text=origin.reading_text if origin.reading_text_edited else None,
            category=origin.category,
            language=origin.language,
            channels=list(origin.channels),
            priority=origin.priority,
            valid_from=max(origin.valid_from, timezone.now()),
            valid_until=origin.valid_until,
            targets=zones or [current.commune],
            tags=list(origin.tags.values_list("name", flat=True)),
            source_note=origin.source_note or origin.unit.name,
        )
        Bulletin.objects.filter(pk=copy.pk).update(origin=origin)
        copy.origin = origin
        current.local_copy = copy
        current.save(update_fields=["local_copy"])
        _audit_delivery(actor, current, "adapt", current.status, local_copy=copy.pk)
    return copy


def delivery_mark(
    *, actor: User | None, delivery: Delivery, status: str, at: dt.datetime | None = None
) -> Delivery:
    """Broadcasting's report on a relayed item: scheduled, then aired."""
    if status not in (DeliveryStatus.SCHEDULED, DeliveryStatus.AIRED):
        raise ServiceError(_("Only “scheduled” or “aired” can be reported."))
    with transaction.atomic():
        current = _locked_delivery(delivery)
        if current.status == DeliveryStatus.DECLINED:
            raise ConflictError(_("The commune declined this bulletin."))
        before = current.status
        when = at or timezone.now()
        if status == DeliveryStatus.SCHEDULED:
            current.scheduled_at = when
            if current.status != DeliveryStatus.AIRED:
                current.status = status
        else:
            current.aired_at = when
            current.status = status
        current.save()
        _audit_delivery(actor, current, status, before)
    return current


# --- Editorial settings --------------------------------------------------------------------


def editorial_settings_for(unit: Unit) -> EditorialSettings:
    """The rules in force for a unit: its own row, else its nearest ancestor's, else defaults."""
    own = (
        EditorialSettings.objects.filter(unit__in=unit.ancestors(include_self=True))
        .select_related("unit")
        .order_by("-unit__depth")
        .first()
    )
    return own or EditorialSettings(unit=unit)


def editorial_settings_update(
    *, actor: User | None, unit: Unit, four_eyes: bool, own_unit_approval: bool
) -> EditorialSettings:
    """Set a unit's editorial rules (unit administrators; they apply to the units below too)."""
    if not policy.may(actor, Action.MANAGE_USERS, unit):
        raise NotFoundError(_("Unit not found."))
    with transaction.atomic():
        current = EditorialSettings.objects.select_for_update().filter(unit=unit).first()
        before = (
            {"four_eyes": current.four_eyes, "own_unit_approval": current.own_unit_approval}
            if current
            else None
        )
        current = current or EditorialSettings(unit=unit)
        current.four_eyes = bool(four_eyes)
        current.own_unit_approval = bool(own_unit_approval)
        current.save()
        audit_record(
            actor=actor,
            action="bulletins.settings.update",
            obj=current,
            unit=unit,
            before=before,
            after={"four_eyes": current.four_eyes, "own_unit_approval": current.own_unit_approval},
        )
    return current


# --- Notifications -------------------------------------------------------------------------

APPROVER_ROLES = [role for role, actions in ROLE_ACTIONS.items() if Action.APPROVE in actions]


def approvers_of(bulletin: Bulletin) -> list[User]:
    """People who could approve this bulletin under the policy and the unit's rules."""
    rules = editorial_settings_for(bulletin.unit)
    assignments = RoleAssignment.objects.filter(role__in=APPROVER_ROLES, user__is_active=True)
    if rules.own_unit_approval:
        assignments = assignments.filter(unit=bulletin.unit)
    else:
        assignments = assignments.filter(
            Q(unit=bulletin.unit) | Q(unit__in=bulletin.unit.ancestors(), covers_descendants=True)
        )
    users = User.objects.filter(pk__in=assignments.values("user_id")).order_by("pk")
    if rules.four_eyes:
        users = users.exclude(pk=bulletin.author_id)
    return list(users)


def _bulletin_url(bulletin: Bulletin) -> str:
    try:
        return reverse("bulletins:detail", args=[bulletin.pk])
    except Exception:  # URLs not wired (a management command without the web app)
        return ""


def _notify_approvers(bulletin: Bulletin, actor: User) -> None:
    with translation.override("vi"):
        message = _("Bulletin “%(title)s” (%(unit)s) is waiting for your approval.") % {
            "title": bulletin.title[:150],
            "unit": bulletin.unit.name,
        }
    notify(
        recipients=[u for u in approvers_of(bulletin) if u.pk != actor.pk],
        message=message,
        url=_bulletin_url(bulletin),
    )


def _notify_author(bulletin: Bulletin, template: str) -> None:
    # `template` is an untranslated msgid: notifications are written in Vietnamese.
    with translation.override("vi"):
        message = _(template) % {"title": bulletin.title[:150]}
    notify(recipients=[bulletin.author], message=message, url=_bulletin_url(bulletin))
