"""
The one settings module. Every value comes from the environment (or `.env`), and
every variable read here is documented in `.env.example`. Defaults suit `make run`
on a laptop; production sets DEBUG=False and the rest through the environment.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONE, SELF
from kombu import Exchange, Queue

from apps.core import logs

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"
# Runtime state (SQLite, broker files, media) lives here and is never committed.
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env(
    "SECRET_KEY", default="django-insecure-dev-only-change-me-in-every-deployment"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where users reach the app; links in emails rendered by workers start with it.
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Demo mode lists the fake gateway's test cards on the payment form and enables
# its fault-injection cards. `check --deploy` refuses it (apps.orders.checks).
DEMO_MODE = env.bool("DEMO_MODE", default=DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_celery_beat",
    "django_celery_results",
    "axes",
    "django_ratelimit",
    "apps.core",
    "apps.accounts",
    "apps.notifications",
    "apps.orders",
    "apps.reports",
    "apps.uploads",
]

MIDDLEWARE = [
    "apps.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Outside the rest, so that even an error page raised by them (a 400 for
    # a bad Host) gets the Content-Security-Policy and Permissions-Policy.
    "csp.middleware.CSPMiddleware",
    "apps.core.middleware.PrivacyHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Before any view, and so before the CSRF check, reads the body; after
    # the user is known, so the 413 page shows the right navigation.
    "apps.core.middleware.RequestSizeLimitMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into our 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.core.context_processors.site",
                "apps.notifications.context_processors.mailbox",
                "apps.notifications.context_processors.notifications",
            ],
        },
    },
]

# Database

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write to one file at once: WAL lets readers run beside
    # the writer, IMMEDIATE takes the write lock up front (no upgrade deadlocks),
    # and the timeout waits for the lock instead of failing "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA busy_timeout=20000;"
        ),
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests use a file, not memory, so that a real worker process sees their
    # data; one file per test run, so that two runs never share one.
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")
    }
# A connection is kept for a minute rather than opened for every request:
# opening one costs more than the query a status poll makes (on SQLite, the
# three PRAGMAs above; on PostgreSQL, a login).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# On PostgreSQL, triggers say which jobs changed and each gunicorn worker
# listens, so that a status poll for an unchanged job asks the database
# nothing (apps/core/changes.py). Off: no triggers (job writes skip NOTIFY's
# lock at commit), and every poll reads the job's row.
JOB_CHANGE_FEED = env.bool("JOB_CHANGE_FEED", default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Accounts

AUTH_USER_MODEL = "accounts.User"
# Django's database sessions, read with less overhead (apps/core/sessions.py).
SESSION_ENGINE = "apps.core.sessions"
# django-axes first: it refuses a login from a locked-out account or address
# before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:home"
LOGOUT_REDIRECT_URL = "core:home"
# How long the link in the welcome email stays valid.
EMAIL_VERIFICATION_MAX_AGE = env.int("EMAIL_VERIFICATION_MAX_AGE", default=3 * 86400)

# Abuse limits. Logins (the site's and the admin's): django-axes locks an
# account, and separately a client address, out for LOGIN_LOCKOUT_MINUTES
# after LOGIN_FAILURE_LIMIT failed attempts; staff see and clear lockouts in
# the admin. Sign-up, password reset and resending the verification email are
# limited per client and per account or address (apps.core.throttle), and no
# address gets more than EMAILS_PER_ADDRESS_PER_HOUR emails, whatever asked
# for them. Rates read "5/h" (per second s, minute m, hour h, day d).
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success does not wipe the failures: else logging into one's own account
# would clear the count against a victim's, and guessing would never stop.
AXES_RESET_ON_SUCCESS = False
AXES_USERNAME_CALLABLE = "apps.core.throttle.login_username"
AXES_CLIENT_IP_CALLABLE = "apps.core.throttle.client_address"
AXES_LOCKOUT_CALLABLE = "apps.core.throttle.login_locked_out"
AXES_VERBOSE = False
RATE_LIMIT_SIGNUP_PER_CLIENT = env("RATE_LIMIT_SIGNUP_PER_CLIENT", default="10/h")
RATE_LIMIT_SIGNUP_PER_ADDRESS = env("RATE_LIMIT_SIGNUP_PER_ADDRESS", default="3/h")
RATE_LIMIT_RESET_PER_CLIENT = env("RATE_LIMIT_RESET_PER_CLIENT", default="20/h")
RATE_LIMIT_RESET_PER_ADDRESS = env("RATE_LIMIT_RESET_PER_ADDRESS", default="3/h")
RATE_LIMIT_RESEND_PER_CLIENT = env("RATE_LIMIT_RESEND_PER_CLIENT", default="20/h")
RATE_LIMIT_RESEND_PER_ACCOUNT = env("RATE_LIMIT_RESEND_PER_ACCOUNT", default="3/h")
EMAILS_PER_ADDRESS_PER_HOUR = env.int("EMAILS_PER_ADDRESS_PER_HOUR", default=20)

# Internationalisation

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files, served by WhiteNoise in every mode

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")
MEDIA_URL = "media/"
# The stylesheet and fonts of every PDF (apps.core.pdf): the only files a
# PDF render may load.
PDF_ASSETS_DIR = BASE_DIR / "static" / "pdf"

# Request limits: refuse oversized bodies before any view reads them.

DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 200
DATA_UPLOAD_MAX_NUMBER_FILES = 10

# Email. Every email is also recorded in the database and readable at /mailbox/;
# EMAIL_URL decides where it is delivered besides (dummy: nowhere, smtp: Mailpit).

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="dummymail://")
vars().update(EMAIL_CONFIG)
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Jobs Demo <hello@example.com>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# Security. HTTPS=True when served over TLS (behind a proxy that sets
# X-Forwarded-Proto); production runs with DEBUG=False and HTTPS=True, which
# passes `manage.py check --deploy`. Compose serves plain HTTP on localhost.

HTTPS = env.bool("HTTPS", default=False)
if HTTPS:
    # Trusted only behind the TLS proxy, which sets it; without one, any
    # client could claim https.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = HTTPS
# How many proxies in front of gunicorn append to X-Forwarded-For (a TLS
# proxy, then perhaps a load balancer): the client's address is the one the
# outermost of them saw. 0 means the connection's own address. Too high a
# number lets a client pick its address, and with it its own abuse limits.
TRUSTED_PROXIES = env.int("TRUSTED_PROXIES", default=1 if HTTPS else 0)
# Probes call these over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
# No page is ever framed (the mailbox frames email HTML via srcdoc, which DENY allows).
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp): scripts only from our own static files,
# never inline (htmx is configured from a <meta> tag, with eval off). Inline
# style attributes are allowed: progress bars and the attempt strip draw their
# widths with them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
# Browser features no page of ours uses (apps.core.middleware sends it).
PERMISSIONS_POLICY = (
    "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
)

# "plain" lines for people, or "json": one object a line, each with the
# request id, or the task and job, it was written under (apps.core.logs).
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "apps.core.logs.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": logs.JSON_FORMATTER,
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        # WeasyPrint logs every step of every page at INFO; its warnings (a
        # refused URL, an unknown CSS property) still show.
        "weasyprint.progress": {"level": "WARNING"},
    },
}

# Celery

# Without REDIS_URL, kombu's filesystem transport passes messages through files
# in var/broker, so `make run` needs no server. Its default one-second poll caps
# a prefetch-1 worker near one task a second; 50 ms keeps the demo snappy.
REDIS_URL = env("REDIS_URL", default="")
# The cache holds the abuse limits' counts: in Redis when there is one, so
# that every web process counts together; otherwise in this process's memory,
# which suits `make run`'s single web process.
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "cache",
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# django-ratelimit lists the caches it has tested (W001); Django's own Redis
# cache is not on that list but has the atomic add and incr it relies on. It
# also refuses a cache that web processes do not share (E003): without Redis
# there is one web process (`make run`), so its memory is shared enough; with
# REDIS_URL set, as in every deployment, that check stands.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"] + (
    [] if REDIS_URL else ["django_ratelimit.E003"]
)
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_VISIBILITY_TIMEOUT = env.int(
    "CELERY_BROKER_VISIBILITY_TIMEOUT", default=3600
)
# Another broker than Redis, RabbitMQ say (amqp://user:password@host:5672/vhost;
# README, Redis or RabbitMQ); Redis, when set, still holds the cache.
BROKER_URL = env("BROKER_URL", default="")
if BROKER_URL:
    CELERY_BROKER_URL = BROKER_URL
elif REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT
    }
else:
    # kombu's filesystem transport, writing each message atomically
    # (config/broker_files.py).
    CELERY_BROKER_URL = "localfiles://"
    (BROKER_DIR / "messages").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "processed").mkdir(parents=True, exist_ok=True)
    (BROKER_DIR / "control").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "messages"),
        "data_folder_out": str(BROKER_DIR / "messages"),
        "processed_folder": str(BROKER_DIR / "processed"),
        # Broadcast (remote control) messages; kombu's default is ./control.
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
        "polling_interval": 0.05,
        "visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT,
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request must not hang while the broker is down: fail the publish fast,
# keep the row queued, and let the sweeper publish it later.
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0.2}
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# Every task is idempotent, so a message is acknowledged only once it is done and
# redelivered if the worker dies; each job row caps its attempts so a task that
# always kills its worker ends failed instead of looping.
# Celery replaces the root logger's handlers with its own unless told not
# to; for JSON lines the worker keeps the handler above.
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Defaults for tasks that declare none; apps.core.checks keeps all of them,
# and every retry backoff cap, below the visibility timeout.
CELERY_TASK_SOFT_TIME_LIMIT = 20
CELERY_TASK_TIME_LIMIT = 25
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
# Quick: emails and notifications. Heavy: reports, images, imports.
# Critical: payments. Bulk: announcements and digests, to many people at once,
# so that they never stand in front of a welcome or a reset email. One worker
# consumes all four unless you split them (-Q).
CELERY_TASK_DEFAULT_QUEUE = "quick"
CELERY_TASK_ROUTES = {
    "apps.notifications.tasks.email_send_bulk": {"queue": "bulk"},
    "apps.notifications.tasks.announcement_send": {"queue": "bulk"},
    "apps.notifications.tasks.announcement_chunk_deliver": {"queue": "bulk"},
    "apps.notifications.tasks.digest*": {"queue": "bulk"},
    "apps.notifications.tasks.*": {"queue": "quick"},
    "apps.accounts.tasks.*": {"queue": "quick"},
    "apps.core.tasks.*": {"queue": "quick"},
    "apps.orders.tasks.payment_*": {"queue": "critical"},
    "apps.orders.tasks.orders_flag_stale": {"queue": "quick"},
    # An invoice is one page, rendered in about a second: it and the receipt
    # that carries it must not wait behind minutes-long reports on heavy.
    "apps.orders.tasks.invoice_render": {"queue": "quick"},
    "apps.orders.tasks.order_paid_email": {"queue": "quick"},
    "apps.orders.tasks.*": {"queue": "heavy"},
    "apps.reports.tasks.*": {"queue": "heavy"},
    # A batch's notification is quick work; the thumbnails are heavy.
    "apps.uploads.tasks.upload_batch_*": {"queue": "quick"},
    "apps.uploads.tasks.*": {"queue": "heavy"},
}
# Declared, so that a worker started without -Q consumes all four; each has
# its own direct exchange and routing key, so the broker shows what goes where.
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name, type="direct"), routing_key=name)
    for name in ("quick", "heavy", "critical", "bulk")
]
# Job rows are what users read; Celery's own result is kept only when a task
# fails, for staff in the admin.
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_STORE_ERRORS_EVEN_IF_IGNORED = True
CELERY_RESULT_EXPIRES = 7 * 86400
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# /metrics (Prometheus) answers only with this token (Authorization: Bearer);
# unset, there is no /metrics.
METRICS_TOKEN = env("METRICS_TOKEN", default="")

# Jobs (apps.core): how the sweeper finds jobs that nobody is running.
# A running job renews its lease (Job.lease_seconds) at every progress update
# and with a heartbeat this often.
JOB_HEARTBEAT_INTERVAL = env.int("JOB_HEARTBEAT_INTERVAL", default=5)
# Seconds between two sweeps (beat).
JOB_SWEEP_INTERVAL = env.float("JOB_SWEEP_INTERVAL", default=5.0)
# A job still queued this long after its publish is published again (the
# broker was down, or the message was lost with a Redis restart).
JOB_QUEUED_LEASE = env.int("JOB_QUEUED_LEASE", default=120)
# A retry this many seconds overdue is published again (the worker holding its
# message died while it waited).
JOB_RETRY_GRACE = env.int("JOB_RETRY_GRACE", default=10)

# Beat copies these into the database when it starts (django-celery-beat), and
# the admin's "Periodic tasks" shows and edits them there, each with its last
# run and what that run did. An edit to an entry declared here lasts until
# beat restarts; an entry added in the admin stays. Every task here is safe
# to run twice for the same slot.
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck-jobs": {
        # Every 5 seconds, so that a dead worker's job runs again within about
        # 20 s (its lease, then this).
        "task": "apps.core.tasks.jobs_sweep",
        "schedule": JOB_SWEEP_INTERVAL,
        # A sweep not started in time is dropped; the next one covers it.
        "options": {"expires": JOB_SWEEP_INTERVAL},
    },
    "flag-stale-orders": {
        # Every 15 minutes: tell staff about orders stuck awaiting payment.
        "task": "apps.orders.tasks.orders_flag_stale",
        "schedule": crontab(minute="*/15"),
    },
    "delete-stale-sign-ups": {
        # Hourly, on the hour: sign-ups no worker dealt with (a lost message)
        # go after a day, and their password hashes with them.
        "task": "apps.accounts.tasks.signup_requests_clean",
        "schedule": crontab(minute=0),
    },
    "expire-old-reports": {
        # Hourly, at 20 past: delete the PDFs of reports older than
        # REPORT_RETENTION_DAYS (each row stays, marked expired).
        "task": "apps.reports.tasks.reports_expire",
        "schedule": crontab(minute=20),
    },
    "clean-uploads": {
        # Daily at 03:45: delete failed image uploads older than a week, and
        # folders of images that are gone.
        "task": "apps.uploads.tasks.uploads_clean",
        "schedule": crontab(hour=3, minute=45),
    },
    "send-digests": {
        # Daily at 07:00: the digest of unread notifications, to those who
        # asked for it; at most one a day each, however often it runs.
        "task": "apps.notifications.tasks.digests_send",
        "schedule": crontab(hour=7, minute=0),
    },
    "purge-old-notifications": {
        # Daily at 02:30: delete notifications older than
        # NOTIFICATION_RETENTION_DAYS.
        "task": "apps.notifications.tasks.notifications_purge",
        "schedule": crontab(hour=2, minute=30),
    },
    "trim-job-history": {
        # Daily at 02:45: delete job attempts that ended more than
        # JOB_ATTEMPT_RETENTION_DAYS ago (the jobs stay).
        "task": "apps.core.tasks.job_attempts_trim",
        "schedule": crontab(hour=2, minute=45),
    },
    "celery.backend_cleanup": {
        # Daily at 04:00: Celery's own task deleting stored task results
        # older than CELERY_RESULT_EXPIRES. (Beat would add it by itself
        # under this name; declared here so that it is in plain sight.)
        "task": "celery.backend_cleanup",
        "schedule": crontab(hour=4, minute=0),
    },
    "delete-old-import-files": {
        # Daily at 03:30: delete the stored CSV files of imports that ended
        # IMPORT_FILE_RETENTION_DAYS ago (the imports and orders stay).
        "task": "apps.orders.tasks.order_imports_clean",
        "schedule": crontab(hour=3, minute=30),
    },
}
CELERY_TIMEZONE = TIME_ZONE

# Payments (apps.orders)

CURRENCY = "USD"
# Seconds before the first retry of a failed charge; doubles each attempt.
PAYMENT_RETRY_BACKOFF = env.int("PAYMENT_RETRY_BACKOFF", default=4)
# The fake gateway's think time per charge, and how long its "timeout" card
# hangs before the client gives up.
PAYMENT_GATEWAY_LATENCY = env.float("PAYMENT_GATEWAY_LATENCY", default=0.5)
PAYMENT_GATEWAY_TIMEOUT = env.float("PAYMENT_GATEWAY_TIMEOUT", default=3.0)
# Orders awaiting payment longer than this (minutes) are reported to staff.
ORDER_STALE_AFTER = env.int("ORDER_STALE_AFTER", default=60)

# CSV import of orders (apps.orders.imports)

# Refused at upload: a bigger file (bytes; a million rows of orders take
# about 40 MB), or more rows.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=1_000_000)
# Days an ended import keeps its stored file (for another look); then beat
# deletes it.
IMPORT_FILE_RETENTION_DAYS = env.int("IMPORT_FILE_RETENTION_DAYS", default=7)
# Rows read before a batch of whole orders is written, with its counts, in
# one transaction: an attempt cut off resumes after the last batch. Bigger is
# faster, smaller shows progress (and a cancel) sooner.
IMPORT_BATCH_ROWS = env.int("IMPORT_BATCH_ROWS", default=5000)

# PDF reports (apps.reports)

# Days a finished report's PDF is kept; then beat deletes the file (the row
# stays, marked expired).
REPORT_RETENTION_DAYS = env.int("REPORT_RETENTION_DAYS", default=7)
# Refused in the worker: a report with more orders (or failed payments) than
# this; the message asks for a shorter range.
REPORT_MAX_ROWS = env.int("REPORT_MAX_ROWS", default=10_000)
# Rows laid out at a time: WeasyPrint holds a part's pages in memory (about
# 5 MB a page), so this bounds a worker's memory whatever the report's length.
REPORT_ROWS_PER_PART = env.int("REPORT_ROWS_PER_PART", default=1000)
# Seconds: past this a report ends failed, saying so, with no partial file.
# 10,000 orders take one to three minutes on a busy 2-core machine (make
# bench); twice that leaves room for reports rendered side by side. The hard
# limit is 30 s more.
REPORT_SOFT_TIME_LIMIT = env.int("REPORT_SOFT_TIME_LIMIT", default=600)

# Notifications (apps.notifications)

# Bulk emails (announcements, digests) one worker sends per second at most:
# mail providers cap an account's sending rate. Celery's syntax ("20/s",
# "600/m").
EMAIL_BULK_RATE_LIMIT = env("EMAIL_BULK_RATE_LIMIT", default="20/s")
# Seconds a queued bulk email may wait (behind the rate limit) before the
# sweeper publishes it again: it is not stuck, only in line.
EMAIL_BULK_QUEUED_LEASE = env.int("EMAIL_BULK_QUEUED_LEASE", default=3600)
# Users per delivery task of an announcement or a digest.
ANNOUNCEMENT_CHUNK_SIZE = env.int("ANNOUNCEMENT_CHUNK_SIZE", default=500)
DIGEST_CHUNK_SIZE = env.int("DIGEST_CHUNK_SIZE", default=500)
# Days a notification is kept, read or not; days a job's attempt history is.
NOTIFICATION_RETENTION_DAYS = env.int("NOTIFICATION_RETENTION_DAYS", default=90)
JOB_ATTEMPT_RETENTION_DAYS = env.int("JOB_ATTEMPT_RETENTION_DAYS", default=90)

# Image uploads (apps.uploads)

# Refused in the web process: a bigger file (bytes), or an image whose header
# claims more pixels (about 50 megapixels; a 12-megapixel photo is fine).
UPLOAD_MAX_BYTES = env.int("UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
UPLOAD_MAX_PIXELS = env.int("UPLOAD_MAX_PIXELS", default=50_000_000)
# One upload (one request): at most this many files and bytes in all.
UPLOAD_MAX_FILES = env.int("UPLOAD_MAX_FILES", default=20)
# Django refuses a request with more files than this before any view runs:
# one more than an upload may hold, so that the view can say how many.
DATA_UPLOAD_MAX_NUMBER_FILES = max(DATA_UPLOAD_MAX_NUMBER_FILES, UPLOAD_MAX_FILES + 1)
UPLOAD_MAX_REQUEST_BYTES = env.int(
    "UPLOAD_MAX_REQUEST_BYTES", default=100 * 1024 * 1024
)

# Any request whose body is bigger than this is refused (413) before a byte
# of it is read, so nobody can fill the disk with one upload that Django would
# otherwise spool to a temporary file for the view to refuse. The largest
# form we take, plus room for the form's other fields.
REQUEST_MAX_BYTES = env.int(
    "REQUEST_MAX_BYTES",
    default=max(UPLOAD_MAX_REQUEST_BYTES, IMPORT_MAX_BYTES) + 1024 * 1024,
)
