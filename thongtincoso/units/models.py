"""The administrative tree: nation → provinces → communes → zones (thôn, tổ dân phố).

Since 01/07/2025 (QĐ 19/2025) there are two tiers of local government, but older records name
63 provinces and districts; those stay as units with a `valid_to` date, so nothing here assumes a
fixed depth. Every subtree query goes through `Unit.path` (a materialised path).
"""

from __future__ import annotations

from django.db import models, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# Each path segment is the unit's primary key, zero-padded to a fixed width and digits only.
# Fixed-width digit strings sort the same bytewise and under any database collation, so a subtree
# is one range scan on an ordinary B-tree index on both SQLite and PostgreSQL.
PATH_SEGMENT_WIDTH = 8
# Ids below this fit a segment and are never all nines, so path_upper_bound never overflows.
MAX_UNIT_ID = 10**PATH_SEGMENT_WIDTH - 1


class UnitKind(models.TextChoices):
    NATION = "nation", _("Nation")
    PROVINCE = "province", _("Province")
    DISTRICT = "district", _("District (before 2025)")
    COMMUNE = "commune", _("Commune")
    ZONE = "zone", _("Zone")


class UnitQuerySet(models.QuerySet["Unit"]):
    def current(self) -> UnitQuerySet:
        """Units in force today (not replaced by a reorganisation)."""
        return self.filter(valid_to__isnull=True)

    def subtree_of(self, unit: Unit, *, include_self: bool = True) -> UnitQuerySet:
        qs = self.filter(path__gte=unit.path, path__lt=path_upper_bound(unit.path))
        return qs if include_self else qs.exclude(pk=unit.pk)


def path_upper_bound(path: str) -> str:
    """The smallest digit string of the same length that sorts after every path below `path`.

    Incrementing the path as a number works because every descendant path starts with `path` and
    is longer, so it sorts between `path` and `path + 1`.
    """
    bound = str(int(path) + 1).zfill(len(path))
    if len(bound) != len(path):  # only if every segment were all nines; _set_path prevents it
        raise ValueError(f"path {path!r} has no upper bound of the same width")
    return bound


class Unit(models.Model):
    """An administrative unit (đơn vị hành chính) or a zone inside a commune (thôn, tổ dân phố)."""

    code = models.CharField(
        _("code"),
        max_length=32,
        help_text=_("Official code with leading zeros: province 2 digits, commune 5 digits."),
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=UnitKind.choices)
    # The official type as written in Vietnamese (tỉnh, thành phố, phường, xã, đặc khu, thôn…).
    type_name = models.CharField(_("type"), max_length=64, blank=True)
    codename = models.SlugField(_("code name"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    path = models.CharField(_("tree path"), max_length=255, editable=False, db_index=True)
    depth = models.PositiveSmallIntegerField(_("depth"), editable=False, default=0)
    valid_from = models.DateField(_("valid from"), null=True, blank=True)
    valid_to = models.DateField(_("valid to"), null=True, blank=True)
    # Agency names change often (2025 reorganisation): data, never code.
    committee_name = models.CharField(
        _("People's Committee"),
        max_length=255,
        blank=True,
        help_text=_("e.g. Ủy ban nhân dân phường Hoàn Kiếm"),
    )
    department_name = models.CharField(
        _("department in charge"),
        max_length=255,
        blank=True,
        help_text=_("e.g. Sở Văn hóa, Thể thao và Du lịch"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = UnitQuerySet.as_manager()

    # The permission policy scopes every model through the unit it belongs to; for Unit itself
    # that is the row.
    policy_unit_field = ""

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        ordering = ["path"]
        constraints = [
            # A code names at most one unit in force; a retired unit keeps its code for history.
            models.UniqueConstraint(
                fields=["code"], condition=Q(valid_to__isnull=True), name="unit_code_current_unique"
            ),
            models.UniqueConstraint(fields=["code", "valid_from"], name="unit_code_valid_from"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    def save(self, *args, **kwargs) -> None:
        creating = self.pk is None
        moved = not creating and getattr(self, "_loaded_parent_id", self.parent_id) != (
            self.parent_id
        )
        # No savepoint: the insert and the path update succeed or fail with the caller's
        # transaction (the official loader saves thousands of units in one).
        with transaction.atomic(savepoint=False):
            super().save(*args, **kwargs)
            if creating or moved or not self.path:
                self._set_path()
        self._loaded_parent_id = self.parent_id

    @classmethod
    def from_db(cls, db, field_names, values):  # type: ignore[no-untyped-def]
        instance = super().from_db(db, field_names, values)
        # Remember the parent as loaded, so save() can tell when a unit moved.
        instance._loaded_parent_id = instance.__dict__.get("parent_id")
        return instance

    def _set_path(self) -> None:
        """Compute this unit's path from its parent and carry the change to its subtree."""
        old_path, old_depth = self.path, self.depth
        if self.pk >= MAX_UNIT_ID:
            # A wider id would break the fixed-width paths every subtree query relies on.
            raise ValueError(f"unit id {self.pk} does not fit the {PATH_SEGMENT_WIDTH}-digit path")
        segment = str(self.pk).zfill(PATH_SEGMENT_WIDTH)
        if self.parent_id:
            parent = self.parent  # usually cached by the caller that set it
            assert parent is not None
            self.path, self.depth = parent.path + segment, parent.depth + 1
        else:
            self.path, self.depth = segment, 0
        Unit.objects.filter(pk=self.pk).update(path=self.path, depth=self.depth)
        if old_path and old_path != self.path:
            # Descendants keep their own tail; only the prefix (this unit's path) changes.
            shift = self.depth - old_depth
            below = Unit.objects.filter(path__gt=old_path, path__lt=path_upper_bound(old_path))
            for pk, path, depth in below.values_list("pk", "path", "depth"):
                Unit.objects.filter(pk=pk).update(
                    path=self.path + path[len(old_path) :], depth=depth + shift
                )

    @property
    def is_current(self) -> bool:
        return self.valid_to is None

    def is_descendant_of(self, other: Unit, *, include_self: bool = True) -> bool:
        if self.pk == other.pk:
            return include_self
        return self.path.startswith(other.path)

    def ancestors(self, *, include_self: bool = False) -> UnitQuerySet:
        """All ancestors, root first (paths are prefixes of this one)."""
        w = PATH_SEGMENT_WIDTH
        prefixes = [self.path[: i + w] for i in range(0, len(self.path), w)]
        if not include_self:
            prefixes = prefixes[:-1]
        return Unit.objects.filter(path__in=prefixes).order_by("depth")
