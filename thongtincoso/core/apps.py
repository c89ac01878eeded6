from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "thongtincoso.core"
    label = "core"
    verbose_name = "Core"
