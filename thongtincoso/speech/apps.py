from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SpeechConfig(AppConfig):
    name = "thongtincoso.speech"
    verbose_name = _("Speech and audio")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from thongtincoso.bulletins.services import bulletin_published

        from .signals import render_on_publication

        bulletin_published.connect(
            render_on_publication, dispatch_uid="speech.render_on_publication"
        )
