import pytest


@pytest.fixture(autouse=True)
def instant_gateway(settings):
    """The fake gateway without its think time, for fast tests."""
    settings.PAYMENT_GATEWAY_LATENCY = 0
    settings.PAYMENT_GATEWAY_TIMEOUT = 0
