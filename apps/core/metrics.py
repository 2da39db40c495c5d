"""
/metrics for Prometheus: every figure is read when Prometheus scrapes, from
the database (job rows, attempts) and the broker (queue depths), never kept
in a process's memory. So the answer is the same whichever gunicorn worker
gives it, and work done in any prefork worker child is counted.

- jobs{type,state}: job rows by type and state (gauge).
- job_attempts_last_hour{type,task,outcome}: attempts that ended in the last
  hour, by how: succeeded, failed, retry, interrupted... (gauge).
- job_attempt_seconds_last_hour{type,task}: how long those attempts ran (a
  gauge histogram).
- queue_messages{queue}: messages waiting in each queue (gauge).

The attempt figures cover the last hour, not all time: read from rows that
the nightly trim deletes, an all-time counter would drop every night, and a
scrape would read every attempt ever kept. An hour is an index range scan.

Protected by METRICS_TOKEN (Authorization: Bearer <token>); without one set,
there is no /metrics.
"""

import hmac
import logging
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily

# The text format every Prometheus version reads.
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from apps.core import operations, selectors
from apps.core.models import JobAttempt

logger = logging.getLogger(__name__)

# Upper bounds of the attempt-duration buckets, in seconds.
BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


class JobCollector:
    """Reads the figures at each scrape (a prometheus_client custom collector)."""

    def collect(self):
        yield self._jobs()
        yield from self._attempts()
        yield self._queues()

    def _jobs(self):
        family = GaugeMetricFamily(
            "jobs", "Job rows by type and state.", labels=["type", "state"]
        )
        for model in selectors.job_models():
            counts = dict(
                model.objects.values_list("status").annotate(Count("pk")).order_by()
            )
            for state in model.Status.values:
                family.add_metric(
                    [model._meta.label_lower, state], counts.get(state, 0)
                )
        return family

    def _attempts(self):
        outcomes = GaugeMetricFamily(
            "job_attempts_last_hour",
            "Job attempts that ended in the last hour, by how (retry: it runs again).",
            labels=["type", "task", "outcome"],
        )
        seconds = GaugeHistogramMetricFamily(
            "job_attempt_seconds_last_hour",
            "How long the job attempts that ended in the last hour ran.",
            labels=["type", "task"],
        )
        duration = ExpressionWrapper(
            F("finished_at") - F("started_at"), output_field=DurationField()
        )
        hour_ago = timezone.now() - timedelta(hours=1)
        for model in selectors.job_models():
            labels = [model._meta.label_lower, model.task_name]
            ended = JobAttempt.objects.filter(
                job_type=ContentType.objects.get_for_model(model),
                finished_at__gte=hour_ago,
            )
            by_outcome = ended.values_list("outcome").annotate(Count("pk")).order_by()
            for outcome, count in by_outcome:
                outcomes.add_metric([*labels, outcome], count)
            figures = ended.annotate(duration=duration).aggregate(
                total=Sum("duration"),
                count=Count("pk"),
                **{
                    f"le{index}": Count(
                        "pk", filter=Q(duration__lte=timedelta(seconds=bound))
                    )
                    for index, bound in enumerate(BUCKETS)
                },
            )
            buckets = [
                (str(bound), figures[f"le{index}"])
                for index, bound in enumerate(BUCKETS)
            ]
            buckets.append(("+Inf", figures["count"]))
            total = figures["total"] or timedelta()
            seconds.add_metric(labels, buckets, total.total_seconds())
        return outcomes, seconds

    def _queues(self):
        family = GaugeMetricFamily(
            "queue_messages", "Messages waiting in each queue.", labels=["queue"]
        )
        try:
            with current_app.connection_for_read() as connection:
                for queue in settings.CELERY_TASK_QUEUES:
                    family.add_metric(
                        [queue.name], operations.waiting(connection, queue.name)
                    )
        except Exception:  # The broker is down: the rest is still worth having.
            logger.exception("Metrics: the broker did not answer")
        return family


@never_cache
@require_safe
def metrics(request):
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404  # Not switched on.
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Bearer" or not hmac.compare_digest(given.encode(), token.encode()):
        response = HttpResponse("A valid token is needed.", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobCollector())
    return HttpResponse(
        generate_latest(registry), content_type=CONTENT_TYPE_PLAIN_0_0_4
    )
