"""/metrics: Prometheus's text format, every figure read at scrape time from
the database and the broker, behind a token."""

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from apps.core import selectors
from apps.core.models import JobAttempt
from apps.notifications import services as notifications
from apps.notifications.models import OutgoingEmail
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN = "s3cret-scrape-token"


@pytest.fixture
def scrape(settings):
    settings.METRICS_TOKEN = TOKEN

    def get() -> dict:
        response = Client().get(
            "/metrics", headers={"authorization": f"Bearer {TOKEN}"}
        )
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = {}
        for family in text_string_to_metric_families(response.content.decode()):
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                samples[key] = sample.value
        return samples

    return get


def value(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


def test_no_token_configured_no_metrics(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics").status_code == 404


def test_a_scrape_without_the_token_is_refused(settings):
    settings.METRICS_TOKEN = TOKEN
    client = Client()
    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"authorization": "Bearer guess"})
    assert wrong.status_code == 401
    bare = client.get("/metrics", headers={"authorization": TOKEN})  # No scheme.
    assert bare.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")


def test_the_figures_match_the_database_after_a_mixed_run(
    scrape, django_capture_on_commit_callbacks, settings
):
    settings.EMAILS_PER_ADDRESS_PER_HOUR = 2
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):  # Sent, inline.
        for _ in range(2):
            notifications.email_queue(owner=user, template="welcome", context={})
    notifications.email_queue(owner=user, template="welcome", context={})  # Refused.
    with django_capture_on_commit_callbacks(execute=False):  # Left queued.
        notifications.email_queue(owner=UserFactory(), template="welcome", context={})

    samples = scrape()

    for model in selectors.job_models():
        for state in model.Status.values:
            expected = model.objects.filter(status=state).count()
            got = value(samples, "jobs", type=model._meta.label_lower, state=state)
            assert got == expected, (model, state)
    email = {"type": "notifications.outgoingemail"}
    assert value(samples, "jobs", **email, state="succeeded") == 2
    assert value(samples, "jobs", **email, state="failed") == 1
    assert value(samples, "jobs", **email, state="queued") == 1
    task = {**email, "task": "apps.notifications.tasks.email_send"}
    attempts = JobAttempt.objects.filter(finished_at__isnull=False).count()
    assert attempts == 2
    assert value(samples, "job_attempts_last_hour", **task, outcome="succeeded") == 2
    assert value(samples, "job_attempt_seconds_last_hour_gcount", **task) == 2
    assert (
        value(samples, "job_attempt_seconds_last_hour_bucket", **task, le="+Inf") == 2
    )
    assert value(samples, "job_attempt_seconds_last_hour_bucket", **task, le="600") == 2
    assert value(samples, "job_attempt_seconds_last_hour_gsum", **task) >= 0
    assert OutgoingEmail.objects.count() == 4


@pytest.mark.worker
def test_queue_depths_come_from_the_broker(
    scrape, broker, transactional_db, django_capture_on_commit_callbacks
):
    user = UserFactory()
    # Published to the private Redis, with no worker to take them.
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            notifications.email_queue(owner=user, template="welcome", context={})
        notifications.email_queue(
            owner=user, template="digest", context={"notifications": [], "unread": 0}
        )

    samples = scrape()

    assert value(samples, "queue_messages", queue="quick") == 3
    assert value(samples, "queue_messages", queue="bulk") == 1
    assert value(samples, "queue_messages", queue="heavy") == 0
    assert value(samples, "queue_messages", queue="critical") == 0


def test_attempts_older_than_an_hour_are_left_out(
    scrape, clock, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    with django_capture_on_commit_callbacks(execute=True):
        notifications.email_queue(owner=UserFactory(), template="welcome", context={})
    task = {
        "type": "notifications.outgoingemail",
        "task": "apps.notifications.tasks.email_send",
    }
    assert value(scrape(), "job_attempts_last_hour", **task, outcome="succeeded") == 1
    clock.shift(timedelta(minutes=61))
    samples = scrape()
    assert (
        "job_attempts_last_hour",
        tuple(sorted({**task, "outcome": "succeeded"}.items())),
    ) not in samples
    assert value(samples, "job_attempt_seconds_last_hour_gcount", **task) == 0
