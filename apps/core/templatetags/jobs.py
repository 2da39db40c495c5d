"""
{% job_status job %}: the live status box of one job, drawn from the job alone.
{% job_list_poller jobs %}: keeps the badges of a list of jobs live.

    {% load jobs %}
    {% job_status payment %}
    {% for payment in payments %}{% job_badge payment %}{% endfor %}
    {% job_list_poller payments %}
"""

from django import template
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode

from apps.core import selectors, status

register = template.Library()


@register.simple_tag(takes_context=True)
def job_status(context, job, **extra):
    """Render the job's status box (its model's status_template); `extra` is
    added to the box's context (a page may pass a bound form, for one)."""
    request = context.get("request")
    return render_to_string(
        job.status_template,
        {**status.box_context(job, request), **extra},
        request=request,
    )


@register.simple_tag(takes_context=True)
def job_badge(context, job):
    """The job's badge in a list, which {% job_list_poller %} keeps up to date."""
    return render_to_string(
        job.badge_template,
        {"job": job},
        request=context.get("request"),
    )


@register.inclusion_tag("core/_job_list_poller.html")
def job_list_poller(jobs, every="2s"):
    """Poll the state of the jobs not final yet, all of one type; nothing if none."""
    live = [job for job in jobs if not job.is_final]
    if not live:
        return {"url": ""}
    label = live[0]._meta.label_lower
    query = urlencode([("id", job.pk) for job in live])
    return {
        "url": f"{reverse('core:job_list_status', args=[label])}?{query}",
        "every": every,
    }


@register.filter
def job_label(job) -> str:
    """The job's type as the job URLs name it: "orders.payment"."""
    return job._meta.label_lower


@register.filter
def verbose_name_of(job) -> str:
    """The job's type as people call it: "Order import"."""
    return selectors.job_type_name(type(job))


@register.filter
def job_duration(job) -> str:
    """How long the job ran: from its first start to its end, or to now
    while it runs; "—" before it starts."""
    if not job.started_at:
        return "—"
    end = job.finished_at or timezone.now()
    seconds = max((end - job.started_at).total_seconds(), 0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return (
        f"{minutes} min {seconds} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60} min"
    )


@register.filter
def job_reference(job) -> str:
    """How the operations page names a job in its forms: "orders.payment:12"."""
    return f"{job._meta.label_lower}:{job.pk}"


@register.filter
def admin_url(job) -> str:
    """The job's admin page, which lists its attempts."""
    meta = job._meta
    try:
        return reverse(
            f"admin:{meta.app_label}_{meta.model_name}_change", args=[job.pk]
        )
    except NoReverseMatch:
        return job.get_absolute_url() if hasattr(job, "get_absolute_url") else ""
