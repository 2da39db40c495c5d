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
        lines = ["Demo products: the catalogue at /orders/new/"]
        made = services.orders_seed_demo(email="demo@example.com")
        if made:
            lines.append(f"Demo orders: {made} over the last 90 days, for reports")
        return lines
