from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def check_demo_mode_off(app_configs, **kwargs):
    # Demo mode turns on the fake gateway's fault-injection cards; a production
    # deployment (what `check --deploy` vets) must never run with it.
    if settings.DEMO_MODE:
        return [
            checks.Error(
                "DEMO_MODE is on: test cards are shown and fault injection is enabled.",
                hint="Set DEMO_MODE=False in production.",
                id="orders.E001",
            )
        ]
    return []
