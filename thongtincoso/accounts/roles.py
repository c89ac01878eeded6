"""Roles and actions: the vocabulary of the permission policy (see policy.py)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    SYSTEM_ADMIN = "system_admin", _("System administrator")
    UNIT_ADMIN = "unit_admin", _("Unit administrator")
    EDITOR = "editor", _("Editor")
    APPROVER = "approver", _("Approver")
    BROADCAST_OPERATOR = "broadcast_operator", _("Broadcast operator")
    TECHNICIAN = "technician", _("Technician")
    FEEDBACK_OFFICER = "feedback_officer", _("Feedback officer")
    VIEWER = "viewer", _("Viewer")


class Action(models.TextChoices):
    VIEW = "view", _("View")
    # Change the unit's content: its bulletins (later), its details and agency names, its zones.
    EDIT = "edit", _("Edit")
    APPROVE = "approve", _("Approve")
    MANAGE_USERS = "manage_users", _("Manage users and roles")
    VIEW_AUDIT = "view_audit", _("View the audit log")
    BROADCAST = "broadcast", _("Operate broadcasts")
    MANAGE_DEVICES = "manage_devices", _("Manage devices")
    HANDLE_FEEDBACK = "handle_feedback", _("Handle citizen feedback")


ROLE_ACTIONS: dict[str, frozenset[str]] = {
    Role.SYSTEM_ADMIN: frozenset(Action.values),
    Role.UNIT_ADMIN: frozenset({Action.VIEW, Action.EDIT, Action.MANAGE_USERS, Action.VIEW_AUDIT}),
    Role.EDITOR: frozenset({Action.VIEW, Action.EDIT}),
    Role.APPROVER: frozenset({Action.VIEW, Action.APPROVE}),
    Role.BROADCAST_OPERATOR: frozenset({Action.VIEW, Action.BROADCAST}),
    Role.TECHNICIAN: frozenset({Action.VIEW, Action.MANAGE_DEVICES}),
    Role.FEEDBACK_OFFICER: frozenset({Action.VIEW, Action.HANDLE_FEEDBACK}),
    Role.VIEWER: frozenset({Action.VIEW}),
}

# Roles only a system administrator may grant (a unit admin must not mint peers above them).
SYSTEM_ONLY_ROLES = frozenset({Role.SYSTEM_ADMIN})
