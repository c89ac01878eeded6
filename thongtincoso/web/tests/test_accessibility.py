"""Screen readers hear each field's help and errors: aria-describedby points at real elements."""

from __future__ import annotations

import re

from thongtincoso.accounts.roles import Role


def _dangling_describedby(html: str) -> list[str]:
    ids = set(re.findall(r'\sid="([^"]+)"', html))
    wanted = {
        target
        for value in re.findall(r'aria-describedby="([^"]+)"', html)
        for target in value.split()
    }
    return sorted(wanted - ids)


def test_help_and_errors_are_linked_to_their_inputs(tree, make_user, client_for):
    admin = client_for(make_user("hn-admin", tree.hanoi, role=Role.UNIT_ADMIN))
    blank = admin.get("/units/01/users/new/").content.decode()
    assert 'aria-describedby="id_password_helptext"' in blank
    assert _dangling_describedby(blank) == []

    failed = admin.post(
        "/units/01/users/new/", {"username": "", "full_name": "", "password": "x"}
    ).content.decode()
    assert "id_username_error" in failed
    assert _dangling_describedby(failed) == []
