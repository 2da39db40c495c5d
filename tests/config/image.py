"""
The image's build context: what `COPY . .` takes by .dockerignore's rules.

There is no Docker engine here, so the image is imitated by copying the build
context into a temporary `app/`.
"""

import functools
import os
import re
import shutil
from pathlib import Path

from tests.processes import BASE_DIR


@functools.cache
def dockerignore_patterns() -> list[re.Pattern]:
    patterns = []
    for line in (BASE_DIR / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        # Only *, ? and ** are translated below; refuse what would be misread.
        assert not set(line) & set("![]\\"), f"unsupported .dockerignore: {line}"
        regex = "".join(
            {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                part, re.escape(part)
            )
            for part in re.split(r"(\*\*/|\*\*|\*|\?)", line.strip("/"))
        )
        patterns.append(re.compile(regex))
    return patterns


def in_build_context(path: str) -> bool:
    """Whether `COPY . .` copies `path` (relative to the project, / separated).

    As Docker does, a pattern matches from the project root and excludes a
    directory with everything in it.
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: index + 1]) for index in range(len(parts))]
    return not any(
        pattern.fullmatch(prefix)
        for pattern in dockerignore_patterns()
        for prefix in prefixes
    )


def copy_build_context(destination: Path) -> None:
    for root, dirs, files in os.walk(BASE_DIR):
        relative = Path(root).relative_to(BASE_DIR)
        dirs[:] = [
            name for name in dirs if in_build_context((relative / name).as_posix())
        ]
        for name in files:
            path = (relative / name).as_posix()
            if in_build_context(path):
                (destination / path).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(BASE_DIR / path, destination / path)
