from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    verbose_name = "Core"

    def ready(self):
        from django.core import signals
        from django.db.models.signals import post_migrate, pre_migrate

        from apps.core import (
            changes,
            checks,  # noqa: F401  (registers the system checks)
            logs,
        )

        signals.request_started.connect(logs.request_started)
        signals.request_finished.connect(logs.request_finished)
        # Once a migrate, before and after every app's migrations.
        pre_migrate.connect(changes.drop_triggers, sender=self)
        post_migrate.connect(changes.install_triggers, sender=self)
