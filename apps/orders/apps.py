from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "apps.orders"
    verbose_name = "Orders"

    def ready(self):
        from apps.orders import checks  # noqa: F401  (registers the deploy check)
