"""The task base every job runs on (apps.core.job_task), on the test-only SampleJob."""

import logging

import pytest
from celery import Task, current_app
from django.core.checks import Error
from django.db import OperationalError

from apps.core import cancel
from apps.core import services as jobs
from apps.core.checks import celery_limit_errors
from apps.core.job_task import TIMED_OUT, UNEXPECTED_FAILURE
from apps.core.models import JobAttempt
from tests.jobkit import services as sample
from tests.jobkit import tasks
from tests.jobkit.models import SampleJob
from tests.jobkit.runs import run_attempt

pytestmark = pytest.mark.django_db


def attempts_of(job) -> list[tuple[int, str, str]]:
    return [
        (a.number, a.outcome, a.error)
        for a in JobAttempt.objects.filter(job_id=job.pk).order_by("number")
    ]


def test_work_that_returns_succeeds_once_however_often_its_task_runs(make_job):
    job = make_job()
    tasks.sample_job_run(job.pk)
    tasks.sample_job_run(job.pk)  # A duplicate delivery.
    job.refresh_from_db()
    assert (job.status, job.attempts, job.effects, job.progress) == (
        "succeeded",
        1,
        1,
        100,
    )
    assert attempts_of(job) == [(1, "succeeded", "")]


def test_unexpected_exception_fails_the_job_with_a_user_message_and_one_log_line(
    make_job, caplog
):
    job = make_job(plan="raise")
    with caplog.at_level(logging.INFO, logger="apps.core.job_task"):
        run_attempt(job)
    assert (job.status, job.error_message) == ("failed", UNEXPECTED_FAILURE)
    assert job.error_message == (
        "Something went wrong on our side; we have been told. You can try again."
    )
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == (
        f"SampleJob {job.pk} (task None) failed unexpectedly"
    )
    assert errors[0].exc_info[0] is ValueError  # The traceback goes with it.
    attempt = JobAttempt.objects.get(job_id=job.pk)
    assert attempt.outcome == "failed"
    assert attempt.error == UNEXPECTED_FAILURE
    assert "ValueError: a bug in the sample job" in attempt.error_detail


def test_soft_time_limit_fails_the_job_saying_it_took_too_long(make_job):
    job = make_job(plan="soft-limit")
    run_attempt(job)
    assert job.status == "failed"
    assert job.error_message == TIMED_OUT.format(limit=SampleJob.soft_time_limit)
    assert job.error_message == (
        "This took longer than the 4 seconds we allow, so we stopped it."
    )


def test_permanent_failure_ended_by_the_work_stays_failed(make_job):
    job = make_job(plan="fail")
    run_attempt(job)
    assert (job.status, job.error_message) == ("failed", "The sample said no.")
    assert attempts_of(job) == [(1, "failed", "The sample said no.")]


def test_retries_then_success_keep_every_attempt_in_the_history(make_job):
    job = make_job(plan="retry,retry,ok")
    countdowns = [run_attempt(job) for _ in range(3)]
    assert countdowns[0] and countdowns[1]
    assert countdowns[2] is None
    assert (job.status, job.attempts, job.effects) == ("succeeded", 3, 1)
    assert attempts_of(job) == [
        (1, "retry", "sample outage"),
        (2, "retry", "sample outage"),
        (3, "succeeded", ""),
    ]


def test_out_of_attempts_the_give_up_hook_ends_the_job(make_job):
    job = make_job(plan="retry")
    for _ in range(job.max_attempts):
        run_attempt(job)
    assert (job.status, job.attempts) == ("failed", 3)
    assert job.error_message == "Gave up after 3 attempts (sample outage)."
    assert [outcome for _, outcome, _ in attempts_of(job)] == [
        "retry",
        "retry",
        "failed",
    ]


def test_cancel_noticed_at_a_checkpoint_ends_the_job_cancelled(make_job, monkeypatch):
    job = make_job(steps=3)

    def cancel_half_way(*, job):
        jobs.job_progress(job, progress=40, stage="Step 1")
        cancel.job_cancel(SampleJob.objects.get(pk=job.pk))  # The owner clicks.
        jobs.job_progress(job, progress=60, stage="Step 2")
        raise AssertionError("the checkpoint should have stopped the work")

    monkeypatch.setattr(sample, "sample_job_run", cancel_half_way)
    run_attempt(job)
    assert (job.status, job.stage, job.effects) == ("cancelled", "Cancelled at 40%", 0)
    assert attempts_of(job) == [(1, "cancelled", "")]


def test_task_of_a_deleted_job_returns_quietly(make_job, caplog):
    job = make_job()
    SampleJob.objects.filter(pk=job.pk).delete()
    with caplog.at_level(logging.INFO, logger="apps.core.job_task"):
        assert tasks.sample_job_run(job.pk) is None
    assert caplog.messages == [f"SampleJob {job.pk} is gone: nothing to do"]
    assert not JobAttempt.objects.exists()


def test_job_task_takes_its_limits_from_the_model_and_never_caps_retries():
    task = current_app.tasks[SampleJob.task_name]
    assert (task.soft_time_limit, task.time_limit) == (4, 6)
    assert task.max_retries is None
    assert task.name == "tests.jobkit.tasks.sample_job_run"


def test_check_refuses_a_job_whose_task_does_not_use_the_base(monkeypatch):
    class PlainTask(Task):
        name = SampleJob.task_name
        soft_time_limit, time_limit = 4, 6

    monkeypatch.setitem(current_app.tasks, SampleJob.task_name, PlainTask())
    errors = celery_limit_errors(current_app)
    assert [e.id for e in errors] == ["core.E006"]
    assert isinstance(errors[0], Error)
    assert "@job_task(SampleJob)" in errors[0].msg


def test_check_refuses_a_lease_a_couple_of_missed_heartbeats_would_lapse(
    monkeypatch, settings
):
    settings.JOB_HEARTBEAT_INTERVAL = 5
    monkeypatch.setattr(SampleJob, "lease_seconds", 10)
    assert [e.id for e in celery_limit_errors(current_app)] == ["core.E007"]


def test_project_job_tasks_all_pass_the_checks():
    assert celery_limit_errors(current_app) == []


def test_a_zombie_attempt_leaves_the_row_to_the_attempt_that_took_over(
    make_job, monkeypatch, caplog
):
    job = make_job()

    def paused_too_long(*, job):
        SampleJob.objects.filter(pk=job.pk).update(task_id="the-new-attempt")
        raise ValueError("and then it failed")

    monkeypatch.setattr(sample, "sample_job_run", paused_too_long)
    with caplog.at_level(logging.WARNING, logger="apps.core.job_task"):
        run_attempt(job)
    assert (job.status, job.task_id, job.error_message) == (
        "running",
        "the-new-attempt",
        "",
    )
    assert caplog.messages[-1] == (
        f"SampleJob {job.pk} is no longer held by task None (taken over or "
        "deleted); it stops"
    )


def test_a_failing_give_up_hook_releases_the_job_for_another_try(make_job, monkeypatch):
    job = make_job(plan="raise")
    task = current_app.tasks[SampleJob.task_name]

    def broken_hook(job, *, message, detail=""):
        raise ConnectionError("the gateway's lookup is down too")

    with monkeypatch.context() as patch:
        patch.setattr(task, "give_up", broken_hook)
        run_attempt(job)
    # Not ended half settled: released, so the sweeper hands it on soon.
    assert (job.status, job.stage) == ("running", "Finishing; trying again shortly")
    assert job.worker_lost
    attempt = JobAttempt.objects.get(job_id=job.pk)
    assert attempt.outcome == "failed"
    assert "ValueError" in attempt.error_detail
    assert "ConnectionError" in attempt.error_detail
    # The next attempt, with the hook working again, ends it.
    run_attempt(job)
    assert (job.status, job.attempts, job.error_message) == (
        "failed",
        2,
        UNEXPECTED_FAILURE,
    )


def test_a_missed_heartbeat_is_retried_at_the_next_beat(monkeypatch):
    import threading

    from apps.core import heartbeat

    answers = iter([OperationalError("database is locked"), True, False])
    calls = []

    def beat(job):
        calls.append(job)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(heartbeat.services, "job_heartbeat", beat)
    heartbeat._beat(SampleJob(pk=1), threading.Event(), interval=0.01)
    assert len(calls) == 3  # Went on after the error, stopped once not ours.


def test_check_refuses_a_job_model_without_a_task(monkeypatch):
    monkeypatch.setattr(SampleJob, "task_name", "")
    assert [e.id for e in celery_limit_errors(current_app)] == ["core.E008"]


def test_a_job_deleted_while_its_work_failed_ends_quietly(
    make_job, monkeypatch, caplog
):
    job = make_job()

    def deleted_then_failed(*, job):
        SampleJob.objects.filter(pk=job.pk).delete()  # Its owner left.
        raise ValueError("the row is gone")

    monkeypatch.setattr(sample, "sample_job_run", deleted_then_failed)
    with caplog.at_level(logging.WARNING, logger="apps.core.job_task"):
        tasks.sample_job_run(job.pk)
    assert not SampleJob.objects.filter(pk=job.pk).exists()
    assert caplog.messages[-1].endswith("(taken over or deleted); it stops")


def test_check_refuses_an_operator_retry_that_names_no_function(monkeypatch):
    monkeypatch.setattr(SampleJob, "operator_retry", "tests.jobkit.services.no_such")
    errors = celery_limit_errors(current_app)
    assert [e.id for e in errors] == ["core.E010"]
    assert "tests.jobkit.services.no_such" in errors[0].msg
