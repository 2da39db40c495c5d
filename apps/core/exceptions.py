class RetryLater(Exception):
    """A job hit a transient error and should run again after `countdown` seconds.

    Raised by services once they have recorded the failed attempt on the job row;
    the task turns it into `self.retry(countdown=...)`.
    """

    def __init__(self, countdown: int, reason: str = ""):
        super().__init__(reason or f"retry in {countdown}s")
        self.countdown = countdown
