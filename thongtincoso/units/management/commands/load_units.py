from django.core.management.base import BaseCommand

from thongtincoso.units.services import units_load_official


class Command(BaseCommand):
    help = "Load or refresh the 34 provinces and 3,321 communes (QĐ 19/2025). Idempotent."

    def handle(self, *args, **options) -> None:
        verbosity = options["verbosity"]

        def progress(done: int, total: int) -> None:
            if verbosity > 1:
                self.stdout.write(f"  {done}/{total} units")

        report = units_load_official(progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                f"Units: {report.created} created, {report.updated} updated, "
                f"{report.unchanged} unchanged ({report.total} in all)."
            )
        )
