"""Redis restarts while jobs wait for a worker (RELIABILITY.md, Broker and workers).

Compose runs Redis with an append-only file; these tests run one the same way.
"""

import uuid

import pytest

from apps.notifications.models import OutgoingEmail
from apps.orders import services
from apps.orders.models import GatewayCharge, Payment, Product
from tests.brokers import use_broker
from tests.processes import RedisServer, require_program, wait_until

pytestmark = [pytest.mark.worker]


@pytest.fixture
def durable_redis(tmp_path):
    require_program("redis-server")
    server = RedisServer(data_dir=tmp_path).start()
    yield server
    server.stop()


def test_jobs_enqueued_before_a_redis_restart_run_once_after_it(
    durable_redis, transactional_db, start_worker, user
):
    services.products_seed_demo()
    product = Product.objects.first()
    with use_broker(durable_redis.url):
        payments = [
            services.payment_start(
                order=services.order_place(
                    owner=user, quantities={product.pk: 1}, checkout_token=uuid.uuid4()
                ),
                card_number="4242424242424242",
            )
            for _ in range(3)
        ]
    # No worker has seen them yet; Redis goes down and comes back.
    durable_redis.restart()

    worker = start_worker(broker_url=durable_redis.url, PAYMENT_GATEWAY_LATENCY="0")
    wait_until(
        lambda: Payment.objects.filter(status="succeeded").count() == 3,
        timeout=20,
        message=f"not every payment ran after the restart:\n{worker.output()}",
    )
    # Each receipt follows its invoice (a chain).
    wait_until(
        lambda: OutgoingEmail.objects.filter(template="order_paid").count() == 3,
        timeout=30,
        message=f"not every receipt was queued:\n{worker.output()}",
    )
    worker.stop()
    for payment in payments:
        payment.refresh_from_db()
        assert payment.attempts == 1
    assert GatewayCharge.objects.filter(status="succeeded").count() == 3
    assert OutgoingEmail.objects.filter(template="order_paid").count() == 3
