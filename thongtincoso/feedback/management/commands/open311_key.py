"""`manage.py open311_key`: the keys other applications use to post feedback through Open311.

    open311_key create --name NAME   prints the new key once (stdout, alone on its line)
    open311_key list                 name, key prefix, created, last used, revoked
    open311_key revoke --name NAME   the key stops working at once

Only a hash of each key is stored, so a lost key cannot be shown again: revoke it, create another.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from thongtincoso.core.errors import ServiceError

from ...models import Open311Client
from ...services import open311_key_create, open311_key_revoke


def _when(value: dt.datetime | None) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M") if value else "-"


class Command(BaseCommand):
    help = "Create, list or revoke Open311 application keys."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        create = commands.add_parser("create", help="create a key and print it once")
        create.add_argument("--name", required=True, help="the application's name, unique")
        commands.add_parser("list", help="list the applications and their keys' state")
        revoke = commands.add_parser("revoke", help="revoke an application's key")
        revoke.add_argument("--name", required=True, help="the application's name")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self._create(options["name"])
        elif action == "list":
            self._list()
        else:
            self._revoke(options["name"])

    def _create(self, name: str) -> None:
        try:
            client, key = open311_key_create(name=name)
        except ServiceError as exc:
            raise CommandError(f"{exc.message} ({name!r})") from exc
        # The key alone on stdout, so scripts can capture it; the advice goes to stderr.
        self.stdout.write(key)
        self.stderr.write(
            f"Key for {client.name!r} created. It is shown only this once: give it to the "
            "application's operator over a private channel."
        )

    def _list(self) -> None:
        clients = list(Open311Client.objects.order_by("name"))
        if not clients:
            self.stdout.write("No Open311 applications.")
            return
        self.stdout.write("name\tprefix\tcreated\tlast used\trevoked")
        for client in clients:
            self.stdout.write(
                "\t".join(
                    [
                        client.name,
                        client.prefix,
                        _when(client.created_at),
                        _when(client.last_used_at),
                        _when(client.revoked_at),
                    ]
                )
            )

    def _revoke(self, name: str) -> None:
        client = Open311Client.objects.filter(name=" ".join(name.split())).first()
        if client is None:
            raise CommandError(f"No Open311 application is named {name!r}.")
        if client.revoked_at is not None:
            raise CommandError(f"The key of {client.name!r} was already revoked.")
        open311_key_revoke(client=client)
        self.stdout.write(f"Key of {client.name!r} revoked.")
