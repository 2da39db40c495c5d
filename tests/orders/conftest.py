import pytest

from apps.orders import services


@pytest.fixture(autouse=True)
def instant_gateway(settings):
    """The fake gateway without its think time, for fast tests."""
    settings.PAYMENT_GATEWAY_LATENCY = 0
    settings.PAYMENT_GATEWAY_TIMEOUT = 0


@pytest.fixture
def products(db):
    services.products_seed_demo()
    from apps.orders.models import Product

    return list(Product.objects.order_by("sku"))
