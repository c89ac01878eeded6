from __future__ import annotations

import datetime as dt

from ninja import Field, Schema

from thongtincoso.units.schemas import UnitRef


class RoleOut(Schema):
    id: int
    role: str
    unit: UnitRef
    covers_descendants: bool


class UserOut(Schema):
    id: int
    username: str
    full_name: str
    email: str
    is_active: bool
    unit: UnitRef | None
    roles: list[RoleOut] = Field(default_factory=list)

    @staticmethod
    def resolve_roles(obj) -> list:  # type: ignore[no-untyped-def]
        return list(obj.role_assignments.all())


class UserIn(Schema):
    username: str = Field(min_length=1, max_length=150)
    unit: str = Field(description="Code of the account's unit")
    full_name: str = ""
    email: str = ""
    phone: str = ""
    password: str | None = None


class RoleAssignIn(Schema):
    username: str
    role: str
    unit: str = Field(description="Unit code")
    covers_descendants: bool = True


class TokenIn(Schema):
    name: str = Field(min_length=1, max_length=100)
    expires_at: dt.datetime | None = None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret; shown only once")
