from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "thongtincoso.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from . import context

        # Work after a request (a job, a command in the same thread) must not inherit its
        # request id or client address.
        request_finished.connect(context.clear, dispatch_uid="ttcs_clear_request_context")
