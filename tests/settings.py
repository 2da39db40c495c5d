"""
The settings the tests run with: the project's own, plus a job type that
exists only for tests (tests.jobkit), so that apps.core's job mechanism is
tested on a job of its own and not only through emails and payments.

Worker processes started by the tests inherit DJANGO_SETTINGS_MODULE, so they
know that job type too.
"""

from config.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.jobkit"]  # noqa: F405
