"""
What a job's work raises to tell the shared task base (apps.core.job_task) how
its attempt ended. Services raise them; the task base turns each into a state
of the job row.
"""


class RetryLater(Exception):
    """A job hit a transient error and should run again after `countdown` seconds.

    Raised by apps.core.services.job_retry_or_fail once it has recorded the
    failed attempt on the job row; the task base turns it into
    `self.retry(countdown=...)`.
    """

    def __init__(self, countdown: int, reason: str = ""):
        super().__init__(reason or f"retry in {countdown}s")
        self.countdown = countdown


class AttemptsExhausted(Exception):
    """The job has used every attempt it may have; `message` says so to the user.

    The task base hands it to the job's give-up hook, which ends the job.
    """

    def __init__(self, message: str, detail: str = ""):
        super().__init__(message)
        self.message = message
        self.detail = detail  # For staff: the last error's own words.


class JobCancelled(Exception):
    """The owner cancelled the running job; raised at its next progress checkpoint."""


class JobTakenOver(Exception):
    """The row is no longer this attempt's to write: its lease lapsed and another
    attempt claimed it, or it was deleted. The attempt stops without a trace."""
