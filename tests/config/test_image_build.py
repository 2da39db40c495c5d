"""
What goes into the image: .dockerignore's build context and the Dockerfile's
collectstatic step, run on a copy of it (the `image_dir` fixture in conftest.py).
"""

import json
import re

import pytest

from tests.config.image import in_build_context
from tests.processes import BASE_DIR

# What goes into the image


def test_build_context_holds_the_code_templates_static_files_and_requirements():
    needed = ["manage.py", "requirements/base.txt", "requirements/prod.txt"]
    for folder in ("apps", "config", "templates", "static"):
        needed += [
            path.relative_to(BASE_DIR).as_posix()
            for path in (BASE_DIR / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        ]
    assert [path for path in needed if not in_build_context(path)] == []


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "var/db.sqlite3",
        "var/media/originals/photo.jpg",
        "staticfiles/staticfiles.json",
        "control/quick.exchange",
        ".venv/bin/python",
        ".git/HEAD",
        "tests/conftest.py",
        "apps/core/__pycache__/views.cpython-311.pyc",
    ],
)
def test_build_context_leaves_out_secrets_local_state_and_tooling(path):
    assert not in_build_context(path)


def test_dockerfile_collectstatic_writes_the_manifest_whitenoise_serves(image_dir):
    static_root = image_dir / "staticfiles"
    manifest = json.loads((static_root / "staticfiles.json").read_text())
    hashed = manifest["paths"]["css/app.css"]
    assert re.fullmatch(r"css/app\.[0-9a-f]{12}\.css", hashed)
    assert (static_root / hashed).is_file()
    assert (static_root / f"{hashed}.gz").is_file()
