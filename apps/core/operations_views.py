"""The staff operations page (/staff/operations/): queues, workers, jobs that
need an eye, and the operators' own actions; each part refreshes itself.
To anyone but staff it does not exist (404)."""

import logging

from django.contrib import messages
from django.http import Http404, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse

from apps.core import operations, selectors
from apps.core.forms import ReplayForm

logger = logging.getLogger(__name__)


def _staff_only(request, *methods):
    if not (request.user.is_authenticated and request.user.is_staff):
        raise Http404
    if request.method not in methods:
        return HttpResponseNotAllowed(methods)
    return None


def operations_page(request):
    if refused := _staff_only(request, "GET", "HEAD"):
        return refused
    return render(
        request,
        "core/operations.html",
        {**_queues_context(), **_jobs_context(), **_chart_context(request)},
    )


def operations_queues(request):
    """Queues and workers, for the page's poll."""
    if refused := _staff_only(request, "GET", "HEAD"):
        return refused
    return render(request, "core/_operations_queues.html", _queues_context())


def operations_jobs(request):
    """Jobs and the action log, for the page's poll."""
    if refused := _staff_only(request, "GET", "HEAD"):
        return refused
    return render(request, "core/_operations_jobs.html", _jobs_context())


def operations_queue(request):
    """Pause or resume a queue's consumption."""
    if refused := _staff_only(request, "POST"):
        return refused
    queue, action = request.POST.get("queue", ""), request.POST.get("action")
    if action not in ("pause", "resume"):
        return HttpResponseBadRequest("action must be pause or resume")
    try:
        if action == "pause":
            had = operations.queue_pause(queue, user=request.user)
            messages.success(
                request,
                f"Paused {queue}: no worker takes from it"
                + (f" ({', '.join(had)} did)." if had else "."),
            )
        else:
            workers = operations.queue_resume(queue, user=request.user)
            messages.success(
                request,
                f"Resumed {queue}"
                + (f" on {', '.join(workers)}." if workers else ": no worker had it."),
            )
    except ValueError:
        return HttpResponseBadRequest("No such queue")
    except Exception:  # The broker is down: say so, not a 500.
        logger.exception("Operations: %s %s failed", action, queue)
        messages.error(
            request, f"Could not {action} {queue}: the broker did not answer."
        )
    return redirect("core:operations")


def operations_act_on_jobs(request):
    """Retry or discard failed jobs: the ticked ones, or the one whose button
    was pressed."""
    if refused := _staff_only(request, "POST"):
        return refused
    if one := request.POST.get("retry_one"):
        action, references = "retry", [one]
    elif one := request.POST.get("discard_one"):
        action, references = "discard", [one]
    else:
        action, references = request.POST.get("action"), request.POST.getlist("job")
    if action not in ("retry", "discard"):
        return HttpResponseBadRequest("action must be retry or discard")
    if not references:
        messages.error(request, "Tick the jobs to act on first.")
        return redirect("core:operations")
    act = operations.jobs_retry if action == "retry" else operations.jobs_discard
    done = act(references[:500], user=request.user)
    verb = "Retried" if action == "retry" else "Discarded"
    skipped = len(references) - done
    messages.success(
        request,
        f"{verb} {done} job{'s' if done != 1 else ''}."
        + (
            f" {skipped} were no longer failed, or may not run again."
            if skipped
            else ""
        ),
    )
    return redirect(reverse("core:operations") + "#failed")


def operations_chart(request):
    """The last hour's chart and wait figures, for the page's poll."""
    if refused := _staff_only(request, "GET", "HEAD"):
        return refused
    return render(request, "core/_operations_chart.html", _chart_context(request))


def _chart_context(request) -> dict:
    kinds = dict(selectors.job_types())
    kind = request.GET.get("kind", "")
    kind = kind if kind in kinds else ""
    hour = operations.last_hour(kind=kind)
    return {
        "schedule": operations.schedule(),
        "sweep": operations.last_sweep(),
        "hour": hour,
        "chart": chart_bars(hour),
        "kind": kind,
        "kind_name": kinds.get(kind, ""),
        "kinds": kinds,
    }


def chart_bars(hour) -> list[dict]:
    """Each minute's stacked bar, in the SVG's units (60 columns, 100 high)."""
    scale = 100 / hour.peak if hour.peak else 0
    bars = []
    for index, minute in enumerate(hour.minutes):
        y = 100.0
        parts = []
        for column in ("succeeded", "retried", "failed"):
            height = getattr(minute, column) * scale
            y -= height
            if height:
                parts.append({"column": column, "y": y, "height": height})
        bars.append({"x": index * 10 + 1, "minute": minute, "parts": parts})
    return bars


def operations_run_now(request):
    """Send a beat entry's task now."""
    if refused := _staff_only(request, "POST"):
        return refused
    pk = request.POST.get("entry", "")
    if not (pk.isascii() and pk.isdigit()) or not operations.schedule_run_now(
        int(pk), user=request.user
    ):
        return HttpResponseBadRequest("No such schedule entry")
    messages.success(request, "Sent: a worker runs it now.")
    return redirect(reverse("core:operations") + "#schedule")


def _queues_context() -> dict:
    online = operations.workers()
    return {"workers": online, "queues": operations.queues(online)}


def _jobs_context() -> dict:
    return {
        "jobs": operations.jobs_needing_attention(),
        "actions": operations.recent_actions(),
    }


def operations_replay(request):
    """Incident replay: GET counts the jobs that match (a dry run), POST runs
    them all again in a worker; the count then goes down by itself."""
    if refused := _staff_only(request, "GET", "HEAD", "POST"):
        return refused
    data = request.POST if request.method == "POST" else request.GET
    form = ReplayForm(data or None)
    matching = None
    if form.is_valid():
        model, state = form.model, form.cleaned_data["state"]
        start, end = form.cleaned_data["start"], form.cleaned_data["end"]
        if request.method == "POST":
            count = operations.replay_start(
                model=model, state=state, start=start, end=end, user=request.user
            )
            messages.success(
                request,
                f"Replaying {count} job{'s' if count != 1 else ''}: a worker runs "
                "each again; the count below goes down as it does.",
            )
            return redirect(reverse("core:operations_replay") + "?" + data.urlencode())
        matching = operations.replay_matches(model, state, start, end).count()
    context = {"form": form, "matching": matching, "query": data.urlencode()}
    if request.headers.get("HX-Request") == "true":
        return render(request, "core/_operations_replay_count.html", context)
    return render(request, "core/operations_replay.html", context)
