# One image for every Python service in docker-compose.yml: web (the CMD below),
# worker, beat and the one-shot migrate pick their own command there.
# tests/config checks this file against the compose file and runs its commands.

# Bookworm pinned: the apt package names below are Debian 12's, and the plain
# python:3.11-slim tag moves to newer Debian releases over time.
FROM python:3.11-slim-bookworm

# Logs reach `docker compose logs` at once; the code directory is read-only for
# the app user, so writing .pyc files there would only fail. pip installs once,
# as root, into the image's own Python: no cache, no warnings about it.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# WeasyPrint (PDF reports) loads Pango, HarfBuzz and Fontconfig at run time
# through cffi; pip cannot install them. Without a font every glyph in a PDF is
# a blank box, so DejaVu comes too. No curl: the healthchecks use Python.
RUN apt-get update \
    && apt-get install --yes --no-install-recommends \
        libpango-1.0-0 \
        libpangoft2-1.0-0 \
        libharfbuzz0b \
        libharfbuzz-subset0 \
        libfontconfig1 \
        fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

# A fixed uid, so files in the media volume keep their owner across rebuilds.
RUN useradd --create-home --uid 1000 --user-group app

WORKDIR /app

# Requirements before the code: the slow pip layer is rebuilt only when a pin
# changes, not on every edit. prod.txt = base.txt + gunicorn + psycopg.
COPY requirements/ requirements/
RUN pip install -r requirements/prod.txt

# .dockerignore keeps .env, var/, .venv and the tests out of the image.
COPY . .

# Hashed, compressed static files are built once, here, and served by
# WhiteNoise. DEBUG=False selects its manifest storage; settings have defaults
# for everything else, so the build needs no secret.
RUN DEBUG=False python manage.py collectstatic --noinput

# Everything stays root-owned and read-only for the app user except var/, where
# settings keep runtime state and compose mounts the shared media volume (a new
# named volume copies this directory's owner).
RUN mkdir -p var/media && chown -R app:app var

USER app

EXPOSE 8000

# The same command as the web service in docker-compose.yml (a test keeps them
# equal); the flags are explained there.
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--worker-class", "gthread", "--threads", "4", "--timeout", "30", "--graceful-timeout", "20", "--worker-tmp-dir", "/dev/shm", "--no-control-socket", "--access-logfile", "-"]
