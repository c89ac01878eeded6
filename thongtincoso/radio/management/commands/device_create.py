"""`manage.py device_create`: add a device and print its one-time enrolment code (automation)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from thongtincoso.core.errors import ServiceError
from thongtincoso.units.models import Unit, UnitKind

from ...devices import device_create
from ...models import Connectivity, DeviceKind


class Command(BaseCommand):
    help = "Create a device in a commune and print its one-time enrolment code."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--commune", required=True, help="commune code, e.g. 00070")
        parser.add_argument("--kind", required=True, choices=DeviceKind.values)
        parser.add_argument("--code", required=True, help="device code, e.g. HK-LOA-01")
        parser.add_argument("--zone", default=None, help="zone code inside the commune")
        parser.add_argument("--name", default="")
        parser.add_argument(
            "--connectivity", default=Connectivity.CELLULAR, choices=Connectivity.values
        )

    def handle(self, *args: Any, **options: Any) -> None:
        commune = (
            Unit.objects.current().filter(code=options["commune"], kind=UnitKind.COMMUNE).first()
        )
        if commune is None:
            raise CommandError(f"No commune in force has the code {options['commune']!r}.")
        zone = None
        if options["zone"]:
            zone = (
                commune.children.current().filter(code=options["zone"], kind=UnitKind.ZONE).first()
            )
            if zone is None:
                raise CommandError(
                    f"Commune {commune.code} has no zone with the code {options['zone']!r}."
                )
        try:
            _device, code = device_create(
                actor=None,
                commune=commune,
                kind=options["kind"],
                code=options["code"],
                zone=zone,
                name=options["name"],
                connectivity=options["connectivity"],
            )
        except ServiceError as exc:
            raise CommandError(str(exc.message)) from exc
        self.stdout.write(code)
