"""
The benchmark behind `make bench`: what our Celery configuration and our job
kit cost.

Each figure is measured twice in one run, on one private redis-server, and the
ratio says how many times better ours is (above 1 is better), so it shows the
price of safety.

- The task rows (delay_call_us, pickup_latency_p50_ms, pickup_latency_p95_ms,
  noop_throughput_per_s; bench.measure) compare our app (config.celery.app
  with every CELERY_* setting: JSON, acks_late, prefetch 1, time limits,
  routes, the django-db result backend) with a bare `Celery("bare")` with
  Celery's defaults and no result backend.
- The job rows (job_roundtrip_p50_ms, job_throughput_per_s; bench.jobs)
  compare a job run through the job kit (apps.core: claim, attempt history,
  heartbeat, fenced end) with the same job row run by a plain task that marks
  it running, then succeeded, on the same worker and database.

- The import rows (import_*; bench.imports) compare the CSV import of orders
  with the row-by-row loop tutorials show, and with the database's own floor
  (COPY), on PostgreSQL (when DATABASE_URL names one) and SQLite, and show
  how its time and memory grow from 10,000 to 1,000,000 rows.

- The report rows (report_*; bench.reports) compare a 1,000-order order
  history rendered our way (parts, bundled stylesheet, fixed column widths)
  with the same rows in one Bootstrap 5 document, and show how ours grows to
  10,000 orders.

- The thumbnail rows (thumbs_*; bench.thumbnails) compare our way of
  making an image's three sizes with opening it whole for each size.

- The polling rows (poll_status_*; bench.polling) compare a job's status
  poll under load with /healthz on the same gunicorn worker, on PostgreSQL
  (when DATABASE_URL names one) and SQLite; job_writes_* says what the change
  feed's trigger costs job writes on PostgreSQL.

Run it with `make bench` or `python -m bench`; it prints a table and writes
var/bench.json. This package imports nothing heavy here, because the workers
import its submodules (bench.tasks, bench.bare) by name.
"""
