# The orders app gets its background work in a later issue; its tasks will live here
# and run on the queue that CELERY_TASK_ROUTES in config/settings.py gives them.
