"""
`manage.py check --deploy` run from the imitated image: it passes with a
production environment and fails on each unsafe setting.
"""

import secrets
import subprocess
from pathlib import Path

import pytest

from tests.config.compose import interpolate
from tests.config.container_commands import SERVICES, clean_env, run

# check --deploy

PRODUCTION = {"DEBUG": "False", "HTTPS": "True", "ALLOWED_HOSTS": "example.com"}
COMPOSE_SECRET_KEY = interpolate(SERVICES["web"]["environment"]["SECRET_KEY"])


def deploy_check(image_dir: Path, variables: dict) -> subprocess.CompletedProcess:
    command = ["python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
    env = {name: value for name, value in variables.items() if value is not None}
    return run(command, cwd=image_dir, env=clean_env(**env))


def test_deploy_check_passes_with_a_production_environment(image_dir):
    result = deploy_check(
        image_dir, {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50)}
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("change", "warning"),
    [
        pytest.param({"DEBUG": "True"}, "security.W018", id="debug-on"),
        pytest.param({"SECRET_KEY": None}, "security.W009", id="settings-default-key"),
        pytest.param(
            {"SECRET_KEY": COMPOSE_SECRET_KEY},
            "security.W009",
            id="compose-placeholder",
        ),
        pytest.param({"HTTPS": "False"}, "security.W012", id="plain-http"),
        pytest.param({"DEMO_MODE": "True"}, "orders.E001", id="demo-mode"),
    ],
)
def test_deploy_check_fails_on_an_unsafe_setting(image_dir, change, warning):
    variables = {**PRODUCTION, "SECRET_KEY": secrets.token_urlsafe(50), **change}
    result = deploy_check(image_dir, variables)
    assert result.returncode != 0
    assert warning in result.stdout
