"""
The commands the containers run, run here as real processes.

There is no Docker engine here, so the image is imitated: the build context is
copied by .dockerignore's rules into a temporary `app/`, the Dockerfile's
collectstatic step runs there, and the services' commands and healthchecks run
from it with the compose environment, the test database and a private
redis-server standing in for the db and redis containers. Programs come from
the virtualenv that runs the tests, as pip puts them on the image's PATH.
"""

import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from tests.config.compose import app_environment, compose_file, documented_variables
from tests.processes import database_url, require_program

SERVICES = compose_file()["services"]
VENV_BIN = Path(sys.executable).parent


# Processes


def clean_env(**variables: str) -> dict[str, str]:
    """This environment minus every variable the settings read, plus `variables`.

    The virtualenv's bin comes first on PATH, where the image has pip's scripts.
    """
    documented = documented_variables()
    env = {name: value for name, value in os.environ.items() if name not in documented}
    # The tests' own settings (tests.settings) are not in the image.
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **variables}


def container_env(image_dir: Path, *, redis_url: str, **variables: str) -> dict:
    """The compose environment of the app services, with the test database and
    the private Redis in place of the db and redis services, no Mailpit to send
    to, and the media folder inside the imitated image."""
    env = app_environment(compose_file())
    local = {
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": redis_url,
        "EMAIL_URL": "dummymail://",
        "MEDIA_ROOT": str(image_dir / "var" / "media"),
    }
    assert set(local) <= set(env)
    return clean_env(**{**env, **local, **variables})


def resolve(argv: list[str], env: dict) -> list[str]:
    program = shutil.which(argv[0], path=env["PATH"]) or require_program(argv[0])
    return [program, *argv[1:]]


def run(argv: list[str], *, cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        resolve(argv, env),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )


class Started:
    """A long-running command in its own process group; output goes to `log`."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict, log: Path):
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                resolve(argv, env),
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def running(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"exited {self.process.returncode}:\n{self.output()}")
        return True

    def shows(self, text: str) -> bool:
        return self.running() and text in self.output()

    def stop(self) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


@contextmanager
def started(argv: list[str], **kwargs):
    command = Started(argv, **kwargs)
    try:
        yield command
    finally:
        command.stop()
