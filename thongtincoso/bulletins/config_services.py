"""Configuring bulletins for the whole country: content categories and broadcast languages.

System administrators only. A category or language in use is never deleted (bulletins keep
pointing at it); it is taken out of use instead, so new bulletins can no longer choose it.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from thongtincoso.accounts import policy
from thongtincoso.accounts.models import User
from thongtincoso.audit.services import audit_record
from thongtincoso.core.errors import NotFoundError, ServiceError, full_clean_or_raise

from .models import Category, Language

ConfigModel = Category | Language


def _require_system_admin(actor: User | None) -> None:
    if not policy.is_system_admin(actor):
        raise NotFoundError(_("Page not found."))


def _values(obj: ConfigModel) -> dict[str, Any]:
    return {
        "code": obj.code,
        "name": obj.name,
        "position": obj.position,
        "is_active": obj.is_active,
    }


def _create(
    model: type[Category] | type[Language],
    *,
    action: str,
    actor: User | None,
    code: str,
    name: str,
    position: int,
) -> Any:
    _require_system_admin(actor)
    code, name = (code or "").strip(), " ".join((name or "").split())
    if model.objects.filter(code=code).exists():
        raise ServiceError(
            _("The code “%(code)s” is already used. Choose another one.") % {"code": code},
            field="code",
        )
    obj = model(code=code, name=name, position=position, is_active=True)
    with transaction.atomic():
        full_clean_or_raise(obj)
        obj.save()
        audit_record(actor=actor, action=action, obj=obj, after=_values(obj))
    return obj


def _update(
    obj: Any,
    *,
    action: str,
    actor: User | None,
    name: str,
    position: int,
    is_active: bool,
) -> Any:
    _require_system_admin(actor)
    with transaction.atomic():
        current = type(obj).objects.select_for_update().get(pk=obj.pk)
        before = _values(current)
        current.name = " ".join((name or "").split())
        current.position = position
        current.is_active = bool(is_active)
        full_clean_or_raise(current)
        current.save()
        after = _values(current)
        audit_record(
            actor=actor,
            action=action,
            obj=current,
            before={k: v for k, v in before.items() if after[k] != v},
            after={k: v for k, v in after.items() if before[k] != v},
        )
    return current


def category_create(*, actor: User | None, code: str, name: str, position: int = 0) -> Category:
    """A new content category (code: a short slug, never changed later)."""
    category: Category = _create(
        Category,
        action="bulletins.category.create",
        actor=actor,
        code=code,
        name=name,
        position=position,
    )
    return category


def category_update(
    *, actor: User | None, category: Category, name: str, position: int, is_active: bool
) -> Category:
    """Rename, move or take a category out of use (its bulletins keep it)."""
    updated: Category = _update(
        category,
        action="bulletins.category.update",
        actor=actor,
        name=name,
        position=position,
        is_active=is_active,
    )
    return updated


def language_create(*, actor: User | None, code: str, name: str, position: int = 0) -> Language:
    """A new broadcast language (code: BCP 47, e.g. "vi", "hmn")."""
    language: Language = _create(
        Language,
        action="bulletins.language.create",
        actor=actor,
        code=code,
        name=name,
        position=position,
    )
    return language


def language_update(
    *, actor: User | None, language: Language, name: str, position: int, is_active: bool
) -> Language:
    """Rename, move or take a language out of use (its bulletins keep it)."""
    updated: Language = _update(
        language,
        action="bulletins.language.update",
        actor=actor,
        name=name,
        position=position,
        is_active=is_active,
    )
    return updated
