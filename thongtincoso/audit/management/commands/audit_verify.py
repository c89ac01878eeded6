from django.core.management.base import BaseCommand, CommandError

from thongtincoso.audit.services import audit_verify_chain


class Command(BaseCommand):
    help = "Verify the audit log's hash chain; exit non-zero naming the first broken record."

    def handle(self, *args, **options) -> None:
        checked, broken = audit_verify_chain()
        if broken is not None:
            raise CommandError(
                f"Audit chain broken at record #{broken.seq} (id {broken.record_id}): "
                f"{broken.reason}. {checked} records before it are intact."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {checked} records verified."))
