from django.apps import AppConfig


class JobkitConfig(AppConfig):
    name = "tests.jobkit"
    label = "jobkit"
    verbose_name = "Job kit (tests only)"
