from django.core.management.base import BaseCommand, CommandError

from thongtincoso.accounts.demo import DEMO_PASSWORD, demo_load
from thongtincoso.bulletins.demo import demo_bulletins_load
from thongtincoso.feedback.demo import demo_feedback_load
from thongtincoso.radio.demo import demo_radio_load
from thongtincoso.speech.demo import demo_speech_load
from thongtincoso.units.models import Unit


class Command(BaseCommand):
    help = "Create the demo accounts (one per role, see README.md) and demo bulletins. Idempotent."

    def handle(self, *args, **options) -> None:
        if not Unit.objects.filter(code="01").exists():
            raise CommandError("Load the units first: python manage.py load_units")
        created = demo_load()
        speech = demo_speech_load()
        bulletins = demo_bulletins_load()
        radio = demo_radio_load()
        feedback = demo_feedback_load()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo accounts: {len(created)} created. Password for all: {DEMO_PASSWORD}. "
                f"Demo bulletins: {bulletins} created. Demo speech settings: {speech} rows. "
                f"Demo radio: {radio} slots and devices created. Demo feedback: {feedback} created."
            )
        )
