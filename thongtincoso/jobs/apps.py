from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class JobsConfig(AppConfig):
    name = "thongtincoso.jobs"
    label = "jobs"
    verbose_name = _("Background jobs")

    def ready(self) -> None:
        # Import every app's tasks module in every process (not only in Huey's consumer), so
        # the periodic-task registry the pages show is complete and enqueueing works from views.
        from django.utils.module_loading import autodiscover_modules

        autodiscover_modules("tasks")
