"""
docker-compose.yml, .env.example and the Dockerfile, read as the config tests
compare them.
"""

import re

import yaml

from tests.processes import BASE_DIR

APP_SERVICES = ["web", "worker", "beat"]


def compose_file() -> dict:
    return yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())


def interpolate(value: str) -> str:
    """The value as compose passes it on when the shell sets no variable:
    `${NAME:-default}` becomes the default, `${NAME:?error}` the empty string
    (compose would refuse to start) and `$$` a literal `$`."""

    def replace(match):
        return "$" if match[0] == "$$" else match[2] or ""

    return re.sub(r"\$\$|\$\{(\w+)(?::?-([^}]*)|:\?[^}]*)?\}", replace, value)


def app_environment(compose: dict) -> dict[str, str]:
    return {
        name: interpolate(str(value))
        for name, value in compose["services"]["web"]["environment"].items()
    }


def documented_variables() -> set[str]:
    """The names .env.example sets: every variable the settings read."""
    text = (BASE_DIR / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped, continuations joined."""
    lines = (BASE_DIR / "Dockerfile").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    instructions = []
    for line in re.sub(r"\\\n", " ", text).splitlines():
        if line.strip():
            name, _, arguments = line.strip().partition(" ")
            instructions.append((name.upper(), " ".join(arguments.split())))
    return instructions


def dockerfile_arguments(instruction: str) -> list[str]:
    return [args for name, args in dockerfile_instructions() if name == instruction]


def seconds(duration: str) -> float:
    """A compose duration such as `2m`, `30s` or `1m30s`, in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", duration)
    assert "".join(number + unit for number, unit in parts) == duration, duration
    return sum(float(number) * units[unit] for number, unit in parts)


def option(command: list[str], name: str) -> str:
    """The value of `--name value` or `--name=value` in an argv list."""
    for index, arg in enumerate(command):
        if arg == name:
            return command[index + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{name} missing from {command}")
