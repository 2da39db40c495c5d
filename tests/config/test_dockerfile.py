"""
The Dockerfile, read instruction by instruction and checked against the
requirements and docker-compose.yml; test_image_build.py runs its
collectstatic step.
"""

import json

from tests.config.compose import dockerfile_arguments, dockerfile_instructions
from tests.processes import BASE_DIR

# Dockerfile


def test_dockerfile_builds_on_python_311_slim():
    (base,) = dockerfile_arguments("FROM")
    assert base.startswith("python:3.11-slim")


def test_dockerfile_installs_the_libraries_weasyprint_loads():
    installs = " ".join(
        args for args in dockerfile_arguments("RUN") if "apt-get install" in args
    ).split()
    for package in ("libpango-1.0-0", "libpangoft2-1.0-0", "libharfbuzz0b"):
        assert package in installs
    assert "curl" not in installs


def test_dockerfile_installs_the_production_requirements():
    assert "pip install -r requirements/prod.txt" in dockerfile_arguments("RUN")
    # What compose runs: gunicorn for web, psycopg for its PostgreSQL URL.
    prod = (BASE_DIR / "requirements" / "prod.txt").read_text()
    assert "gunicorn==" in prod and "psycopg[binary]==" in prod


def test_dockerfile_collects_static_files_after_copying_the_project():
    instructions = dockerfile_instructions()
    copy_all = instructions.index(("COPY", ". ."))
    collect = instructions.index(
        ("RUN", "DEBUG=False python manage.py collectstatic --noinput")
    )
    assert copy_all < collect


def test_dockerfile_runs_as_a_non_root_user_after_the_last_root_step():
    instructions = dockerfile_instructions()
    (user,) = dockerfile_arguments("USER")
    assert user not in ("root", "0")
    last_run = max(i for i, (name, _) in enumerate(instructions) if name == "RUN")
    assert instructions.index(("USER", user)) > last_run
    assert f"useradd --create-home --uid 1000 --user-group {user}" in (
        dockerfile_arguments("RUN")
    )


def test_dockerfile_cmd_is_the_compose_web_command(services):
    (cmd,) = dockerfile_arguments("CMD")
    assert json.loads(cmd) == services["web"]["command"]
    assert dockerfile_arguments("EXPOSE") == ["8000"]
