"""
The benchmark's output: a table on stdout and var/bench.json, a list of
objects with exactly name, ours, baseline, unit and ratio (the contract in
ARCHITECTURE.md). The ratio is how many times better ours is: above 1 is
better, whichever way the unit points.
"""

import json
from pathlib import Path

# How many decimals each unit deserves: finer would only show noise.
DECIMALS = {
    "us": 1,
    "ms": 2,
    "tasks/s": 0,
    "req/s": 0,
    "jobs/s": 0,
    "writes/s": 0,
    "rows/s": 0,
    "pages/s": 2,
    "s": 2,
    "MB": 1,
    "MB/page": 2,
    "KB": 0,
}


def row(name: str, figures: dict[str, float], unit: str, *, lower_is_better):
    """One line of the results from {"ours": ..., "bare": ...}."""
    ours, baseline = figures["ours"], figures["bare"]
    ratio = baseline / ours if lower_is_better else ours / baseline
    places = DECIMALS[unit]
    return {
        "name": name,
        "ours": round(float(ours), places),
        "baseline": round(float(baseline), places),
        "unit": unit,
        "ratio": round(ratio, 2),
    }


def table(rows: list[dict]) -> str:
    header = ("name", "ours", "baseline", "unit", "ratio")
    lines = [header] + [
        (r["name"], f"{r['ours']:g}", f"{r['baseline']:g}", r["unit"], f"{r['ratio']}")
        for r in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = []
    for i, line in enumerate(lines):
        cells = [
            cell.ljust(width) if col in (0, 3) else cell.rjust(width)
            for col, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        text.append(" | ".join(cells))
        if i == 0:
            text.append("-+-".join("-" * width for width in widths))
    return "\n".join(text)


def write_json(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(rows, indent=2) + "\n")


def merge_json(rows: list[dict], path: Path) -> None:
    """Write `rows` into `path` in place of the rows of the same names,
    keeping the others: a run of one part leaves the rest of the results."""
    new = {r["name"]: r for r in rows}
    old = json.loads(path.read_text()) if path.exists() else []
    write_json([new.pop(r["name"], r) for r in old] + list(new.values()), path)
