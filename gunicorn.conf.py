"""
gunicorn reads this file from the directory it starts in (the project root,
/app in the image), whichever command starts it: docker-compose.yml,
deploy/k8s, deploy/systemd. Their command lines set the workers and the
timeouts; this file makes gunicorn's own lines, the access line of every
request included, follow LOG_FORMAT as the app's lines do, and has each
worker listen for job changes.
"""

import os

from apps.core import logs

if os.environ.get("LOG_FORMAT") == "json":
    # One JSON object a line, on standard output (where a container's logs
    # are read), at the app's LOG_LEVEL: this replaces the destinations and
    # level of --access-logfile, --error-logfile and --log-level. An access
    # line carries the request's id, method, path, status and duration as
    # fields (apps.core.logs.AccessLogFields).
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"access": {"()": "apps.core.logs.AccessLogFields"}},
        "formatters": {"json": logs.JSON_FORMATTER},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "filters": ["access"],
                "stream": "ext://sys.stdout",
            }
        },
        "loggers": {
            "gunicorn.error": {
                "handlers": ["console"],
                "level": os.environ.get("LOG_LEVEL", "INFO"),
                "propagate": False,
            },
            "gunicorn.access": {
                "handlers": ["console"],
                "level": "INFO",
                "propagate": False,
            },
        },
    }


def post_worker_init(worker):
    """In each worker, once the app is loaded: hear which jobs change, so
    that status polls for the others ask the database nothing (PostgreSQL;
    apps.core.changes)."""
    from apps.core.changes import feed

    feed.start()
