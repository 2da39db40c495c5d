from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    verbose_name = "Core"

    def ready(self):
        from django.core import signals
        from django.db.models.signals import post_migrate

        from apps.core import (
            changes,
            checks,  # noqa: F401  (registers the system checks)
            logs,
        )

        signals.request_started.connect(logs.request_started)
        signals.request_finished.connect(logs.request_finished)
        # Once a migrate, after every app's migrations.
        post_migrate.connect(changes.install_triggers, sender=self)
