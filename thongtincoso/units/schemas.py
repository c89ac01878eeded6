from __future__ import annotations

import datetime as dt

from ninja import Field, Schema


class UnitRef(Schema):
    code: str
    name: str


class UnitOut(Schema):
    code: str
    name: str
    type: str
    kind: str
    parent: UnitRef | None
    valid_from: dt.date | None
    valid_to: dt.date | None

    @staticmethod
    def resolve_type(obj) -> str:  # type: ignore[no-untyped-def]
        return obj.type_name

    @staticmethod
    def resolve_parent(obj) -> dict | None:  # type: ignore[no-untyped-def]
        p = obj.parent
        return {"code": p.code, "name": p.name} if p is not None else None


class UnitDetailOut(UnitOut):
    committee_name: str
    department_name: str


class UnitPatchIn(Schema):
    committee_name: str | None = Field(None, max_length=255)
    department_name: str | None = Field(None, max_length=255)
    name: str | None = Field(None, max_length=200)


class ZoneIn(Schema):
    name: str = Field(min_length=1, max_length=150)
    type_name: str = "Thôn"


class AccessOut(Schema):
    unit: UnitRef
    actions: list[str]
    grantable_roles: list[str]
