"""The audit log: an append-only, hash-chained record of every state change.

Each record stores the SHA-256 of its own content and of the previous record, and a gapless
sequence number; `audit_verify` recomputes the chain, so editing, deleting or reordering any record
is detected. Records hold plain copies of who and where (ids, usernames, unit codes), never foreign
keys, because a later deletion must not rewrite history.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditRecordQuerySet(models.QuerySet["AuditRecord"]):
    def update(self, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit records cannot be updated.")

    def delete(self):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit records cannot be deleted.")


class AppendOnlyError(Exception):
    pass


class AuditRecord(models.Model):
    """Nhật ký: one state change, who made it, where, and what it was before and after."""

    seq = models.PositiveBigIntegerField(_("sequence"), unique=True)
    created_at = models.DateTimeField(_("time"), db_index=True)
    actor_id = models.BigIntegerField(_("actor id"), null=True, blank=True, db_index=True)
    actor_username = models.CharField(_("actor"), max_length=150, blank=True)
    unit_id = models.BigIntegerField(_("unit id"), null=True, blank=True)
    # Copy of the unit's materialised path, so the log is scoped by the same subtree rule as data.
    unit_path = models.CharField(max_length=255, blank=True, db_index=True)
    unit_code = models.CharField(_("unit"), max_length=32, blank=True)
    action = models.CharField(_("action"), max_length=64, db_index=True)
    object_type = models.CharField(_("object type"), max_length=64, blank=True)
    object_id = models.CharField(_("object id"), max_length=64, blank=True)
    object_repr = models.CharField(_("object"), max_length=255, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    objects = AuditRecordQuerySet.as_manager()

    policy_path_field = "unit_path"

    class Meta:
        verbose_name = _("audit record")
        verbose_name_plural = _("audit records")
        ordering = ["-seq"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.object_repr}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise AppendOnlyError("Audit records cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise AppendOnlyError("Audit records cannot be deleted.")
