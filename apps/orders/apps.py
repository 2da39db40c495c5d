from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "apps.orders"
    verbose_name = "Orders"

    def ready(self):
        from apps.orders import checks  # noqa: F401  (registers the deploy check)

    def seed_demo(self) -> list[str]:
        """The demo catalogue (`manage.py seed_demo` calls every app's seed_demo)."""
        from apps.orders import services

        services.products_seed_demo()
        return ["Demo products: the catalogue at /orders/new/"]
