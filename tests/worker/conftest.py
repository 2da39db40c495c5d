import pytest

from tests.worker.payments import order_place


@pytest.fixture
def order(transactional_db, user):
    """An order of two mugs, awaiting payment."""
    return order_place(user)
