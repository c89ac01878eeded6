from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class BulletinsConfig(AppConfig):
    name = "thongtincoso.bulletins"
    verbose_name = _("Bulletins")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_seed_when_empty, sender=self)


def _seed_when_empty(sender: Any, using: str = "default", **kwargs: Any) -> None:
    # A flushed database (tests that truncate tables) must not lose the seeded lists; an operator's
    # edits are kept, because nothing is seeded while either list has entries.
    from .models import Category, Language
    from .seed import seed_lists

    if not Category.objects.using(using).exists() or not Language.objects.using(using).exists():
        seed_lists(Category, Language)
