from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class FeedbackConfig(AppConfig):
    name = "thongtincoso.feedback"
    verbose_name = _("Citizen feedback")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_seed_when_empty, sender=self)


def _seed_when_empty(sender: Any, using: str = "default", **kwargs: Any) -> None:
    # A flushed database must not lose the categories; an operator's edits are kept.
    from .models import Category, CategoryAttribute
    from .seed import seed_categories

    if not Category.objects.using(using).exists():
        seed_categories(Category, CategoryAttribute)
