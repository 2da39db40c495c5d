"""
Thumbnails (apps.uploads.thumbnails) against the tutorial loop, on the same
12-megapixel JPEGs, each way in a fresh process.

- ours: make_thumbnails, as the worker runs it: the JPEG decoded at a reduced
  scale (`draft`), EXIF orientation applied, metadata dropped, the three
  sizes cascaded with bicubic steps, each a fresh JPEG.
- naive: what tutorials show: open the image, then per size `copy()` and
  `thumbnail(size, LANCZOS)` from the full decode, saved in the same format
  (JPEG) at the same quality.

The images are generated once into var/bench-thumbs/: half photo-like
(smooth gradients and shapes, light grain), half high-detail (fine noise all
over), 4000 × 3000. Each way runs in a process of its own with Python and
Pillow alone (the thumbnailing needs nothing else), ROUNDS times,
alternating, each way first in turn; each figure is the median of the
rounds. Peak memory is the process's peak resident size (VmHWM) over the
run, after a reset, whole and above the process as it stood with Pillow
loaded (the thumbnailing's own; a worker has Django and Celery loaded too,
70 MB more on both sides).
Quality: the mean absolute difference, per channel on the 0-255 scale,
between our 1280-pixel thumbnail and the naive one, averaged over the images
(near 0 means they look the same), and on a chart of thin lines, checks and
stripes (tests.uploads.images.detailed_photo), where a filter that blurs or
aliases shows.

`python -m bench.thumbnails` prints the rows as JSON; `python -m bench`
includes them, and `python -m bench thumbnails` runs only this part.
"""

import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
FOLDER = BASE_DIR / "var" / "bench-thumbs"
IMAGES = 6
# Each way runs this many times, alternating, in a fresh process each time:
# a shared machine's speed drifts by a fifth from one second to the next.
ROUNDS = 5
RUNS = ("ours", "naive")
WIDTH, HEIGHT = 4000, 3000


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def kind_of(number: int) -> str:
    """Which kind test image `number` is: "photo" (photo-like) or "detail"."""
    return "photo" if number % 2 == 0 else "detail"


def sources() -> list[Path]:
    """The test images, made on first use."""
    from PIL import Image, ImageDraw, ImageFilter

    FOLDER.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(IMAGES):
        path = FOLDER / f"source-{number}.jpg"
        paths.append(path)
        if path.exists():
            continue
        rng = random.Random(number)
        if kind_of(number) == "photo":
            image = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
            image = Image.merge(
                "RGB",
                (
                    image,
                    image.rotate(90).resize((WIDTH, HEIGHT)),
                    image.point(lambda v: 255 - v),
                ),
            )
            draw = ImageDraw.Draw(image)
            for _ in range(40):
                x, y = rng.randrange(WIDTH), rng.randrange(HEIGHT)
                r = rng.randrange(50, 600)
                colour = tuple(rng.randrange(256) for _ in range(3))
                draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
            image = image.filter(ImageFilter.GaussianBlur(6))
            grain = Image.effect_noise((WIDTH, HEIGHT), 12).convert("RGB")
            image = Image.blend(image, grain, 0.08)
        else:  # High-detail: fine noise everywhere.
            image = Image.merge(
                "RGB",
                [Image.effect_noise((WIDTH, HEIGHT), 64 + 20 * c) for c in range(3)],
            )
        image.save(path, "JPEG", quality=90)
    return paths


def thumbnails_of(way: str, source: Path, out: Path, stem: str) -> list[Path]:
    """The thumbnails of `source` made `way` ("ours" or "naive"), largest
    first, as out/<stem>-<size>.jpg."""
    from PIL import Image

    from apps.uploads import thumbnails

    if way == "ours":
        return [t.path for t in thumbnails.make_thumbnails(source, out, stem)]
    paths = [out / f"{stem}-{size}.jpg" for size in thumbnails.SIZES]
    with Image.open(source) as image:
        image.load()
        for size, path in zip(thumbnails.SIZES, paths, strict=True):
            thumbnail = image.copy()
            thumbnail.thumbnail((size, size), Image.Resampling.LANCZOS)
            thumbnail.save(path, "JPEG", quality=thumbnails.QUALITY)
    return paths


def run(way: str) -> dict:
    # Loaded before the baseline is taken: the work measured is the
    # thumbnailing, not the imports.
    from apps.uploads import thumbnails  # noqa: F401

    out = FOLDER / way
    out.mkdir(exist_ok=True)
    images = sources()
    Path("/proc/self/clear_refs").write_text("5")
    start_mb = _status_kb("VmRSS") / 1024  # Python and Pillow loaded.
    started = time.perf_counter()
    written = 0
    by_kind = {"photo": 0.0, "detail": 0.0}
    for number, source in enumerate(images):
        image_started = time.perf_counter()
        paths = thumbnails_of(way, source, out, str(number))
        written += sum(path.stat().st_size for path in paths)
        by_kind[kind_of(number)] += time.perf_counter() - image_started
    return {
        "seconds": time.perf_counter() - started,
        **{f"{kind}_seconds": seconds for kind, seconds in by_kind.items()},
        "peak_mb": _status_kb("VmHWM") / 1024,
        "work_mb": _status_kb("VmHWM") / 1024 - start_mb,
        "kb": written / 1024,
    }


def mean_absolute_difference() -> dict:
    """Between our 1280-pixel thumbnails and the naive ones: by kind of
    image ("photo", "detail"), over all of them, and on a chart of thin
    lines, 2-pixel checks and 3-pixel stripes ("chart"), where a filter that
    blurs or aliases shows (the photo-like images are too smooth to tell)."""
    from tests.uploads.images import detailed_photo

    differences = {"photo": [], "detail": []}
    for number in range(IMAGES):
        differences[kind_of(number)].append(
            _difference(
                FOLDER / "ours" / f"{number}-1280.jpg",
                FOLDER / "naive" / f"{number}-1280.jpg",
            )
        )
    every = differences["photo"] + differences["detail"]
    chart = FOLDER / "chart.jpg"
    if not chart.exists():
        chart.write_bytes(detailed_photo(WIDTH, HEIGHT))
    made = {way: thumbnails_of(way, chart, FOLDER / way, "chart") for way in RUNS}
    return {
        "all": sum(every) / len(every),
        **{kind: sum(values) / len(values) for kind, values in differences.items()},
        "chart": _difference(made["ours"][0], made["naive"][0]),
    }


def _difference(one: Path, other: Path) -> float:
    """The mean absolute difference of two pictures, per channel, of 255."""
    from PIL import Image, ImageChops, ImageStat

    with Image.open(one) as first, Image.open(other) as second:
        if first.size != second.size:
            second = second.resize(first.size)
        diff = ImageChops.difference(first.convert("RGB"), second.convert("RGB"))
        return sum(ImageStat.Stat(diff).mean) / 3


def measure(way: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bench.thumbnails", "run", way],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def rows() -> list[dict]:
    from bench import report

    def say(text: str) -> None:
        print(f"bench: thumbnails: {text}", file=sys.stderr, flush=True)

    sources()
    runs = {way: [] for way in RUNS}
    for number in range(ROUNDS):
        # Each way first in turn, so neither always follows the other.
        for way in RUNS if number % 2 == 0 else reversed(RUNS):
            runs[way].append(measure(way))
    ours, naive = (
        {key: statistics.median(run[key] for run in results) for key in results[0]}
        for results in runs.values()
    )
    mad = mean_absolute_difference()
    for way, figures in (("ours", ours), ("naive", naive)):
        say(
            f"{way}: {IMAGES} images of 12 MP in {figures['seconds']:.1f}s, "
            f"peak {figures['peak_mb']:.0f} MB ({figures['work_mb']:.0f} MB above "
            f"the loaded process), {figures['kb']:.0f} KB written"
        )
    # Where the time goes: a high-detail JPEG is mostly entropy decoding,
    # which no reduced scale skips, so the two kinds gain differently.
    for kind in ("photo", "detail"):
        say(
            f"{kind} images: ours {ours[kind + '_seconds']:.2f}s, "
            f"naive {naive[kind + '_seconds']:.2f}s, "
            f"{naive[kind + '_seconds'] / ours[kind + '_seconds']:.1f}x"
        )
    # Not a ratio row: how far our pixels are from the slow path's.
    say(
        f"mean absolute difference of the 1280-px thumbnails: {mad['all']:.2f} "
        f"of 255 (photo-like {mad['photo']:.2f}, noise {mad['detail']:.2f}; "
        f"a chart of thin lines, checks and stripes {mad['chart']:.2f})"
    )
    return [
        report.row(
            "thumbs_12mp_seconds_vs_naive",
            {"ours": ours["seconds"], "bare": naive["seconds"]},
            "s",
            lower_is_better=True,
        ),
        report.row(
            "thumbs_12mp_photo_seconds_vs_naive",
            {"ours": ours["photo_seconds"], "bare": naive["photo_seconds"]},
            "s",
            lower_is_better=True,
        ),
        report.row(
            "thumbs_12mp_detail_seconds_vs_naive",
            {"ours": ours["detail_seconds"], "bare": naive["detail_seconds"]},
            "s",
            lower_is_better=True,
        ),
        report.row(
            "thumbs_12mp_peak_mb_vs_naive",
            {"ours": ours["peak_mb"], "bare": naive["peak_mb"]},
            "MB",
            lower_is_better=True,
        ),
        # The memory the thumbnailing itself takes, above the process with
        # its libraries loaded (the same on both sides).
        report.row(
            "thumbs_12mp_work_mb_vs_naive",
            {"ours": ours["work_mb"], "bare": naive["work_mb"]},
            "MB",
            lower_is_better=True,
        ),
        report.row(
            "thumbs_12mp_output_kb_vs_naive",
            {"ours": ours["kb"], "bare": naive["kb"]},
            "KB",
            lower_is_better=True,
        ),
    ]


def main(argv: list[str]) -> None:
    if argv[:1] == ["run"]:
        # No Django: the thumbnailing needs Pillow alone, and Django's own
        # 70 MB would hide what each way takes in the peak.
        print(json.dumps(run(argv[1])))
    else:
        print(json.dumps(rows()))


if __name__ == "__main__":
    main(sys.argv[1:])
