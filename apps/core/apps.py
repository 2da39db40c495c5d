from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    verbose_name = "Core"

    def ready(self):
        from django.core import signals

        from apps.core import (
            checks,  # noqa: F401  (registers the system checks)
            logs,
        )

        signals.request_started.connect(logs.request_started)
        signals.request_finished.connect(logs.request_finished)
