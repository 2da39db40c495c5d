"""
The benchmark behind `make bench`: what our Celery configuration costs.

Each figure is measured twice in one run, on one private redis-server: for our
app (config.celery.app with every CELERY_* setting: JSON, acks_late, prefetch 1,
time limits, routes, the django-db result backend) and for a bare
`Celery("bare")` with Celery's defaults and no result backend. The ratio says how
many times better ours is (above 1 is better), so it shows the price of safety.

Run it with `make bench` or `python -m bench`; it prints a table and writes
var/bench.json. This package imports nothing heavy here, because the workers
import its submodules (bench.tasks, bench.bare) by name.
"""
