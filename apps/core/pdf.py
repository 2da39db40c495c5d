"""
PDF files from HTML with WeasyPrint, safe for user data and for long documents.

Safe: a render may load only the bundled assets in PDF_ASSETS_DIR (the
stylesheet and its fonts) and `data:` URLs. Any other URL (file://, http://,
a path that leaves the folder through `..` or a symlink) is refused before
anything is opened, so markup or a URL that reaches a template cannot make
the worker read a file or call a server. The stylesheet names only the
bundled fonts, so a PDF looks the same on every machine.

Long: WeasyPrint lays out a whole document in memory, about 5 MB a page. A
long document is therefore rendered in parts (each a complete HTML page of a
bounded number of rows), each part's PDF appended to the file, and the page
numbers ("Page 3 of 12") stamped last, once the count is known. Memory stays
that of one part, whatever the length.

The file is written under a temporary name beside its final one and moved
into place only when complete: an attempt cut short leaves no partial file.
"""

import logging
import mimetypes
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname
from uuid import uuid4

from django.conf import settings
from django.template.loader import render_to_string
from pypdf import PdfReader, PdfWriter
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

logger = logging.getLogger(__name__)

PAGE_NUMBERS_TEMPLATE = "core/pdf/page_numbers.html"


class BundledAssetsOnly(URLFetcher):
    """WeasyPrint's fetcher, limited to `data:` URLs and files in PDF_ASSETS_DIR.

    A refused URL raises ValueError: WeasyPrint logs it and renders without
    that resource. No redirects are followed (a data: URL has none, and
    nothing else is fetched over a network).
    """

    def __init__(self):
        super().__init__(allowed_protocols={"data"}, allow_redirects=False)
        self.assets_dir = Path(settings.PDF_ASSETS_DIR).resolve()

    def fetch(self, url, headers=None):
        scheme = url.partition(":")[0].lower()
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == "file":
            path = Path(url2pathname(urlsplit(url).path)).resolve()
            if path.is_relative_to(self.assets_dir) and path.is_file():
                mime_type, _ = mimetypes.guess_type(path.name)
                return URLFetcherResponse(
                    url,
                    path.read_bytes(),
                    {"Content-Type": mime_type or "application/octet-stream"},
                )
        logger.warning("PDF render: refused to fetch %.200s", url)
        raise ValueError(f"Not a bundled asset: {url[:200]}")


def assets_url() -> str:
    """The base URL a PDF template's relative links (report.css) resolve to."""
    return Path(settings.PDF_ASSETS_DIR).resolve().as_uri() + "/"


def html_to_pdf(html: str) -> bytes:
    """One HTML page as PDF bytes, through the bundled-assets-only fetcher."""
    return HTML(
        string=html, base_url=assets_url(), url_fetcher=BundledAssetsOnly()
    ).write_pdf()


@dataclass(frozen=True)
class PdfFile:
    pages: int
    size: int  # Bytes.


def write_pdf(
    parts: Iterable[str],
    path: Path,
    *,
    title: str,
    on_part: Callable[[int], None] = lambda pages: None,
    on_writing: Callable[[int], None] = lambda pages: None,
) -> PdfFile:
    """Render each HTML part, join them into one PDF at `path` with page
    numbers, and return its page count and size.

    `on_part(pages so far)` is called after each part, and
    `on_writing(pages)` once all are rendered: the caller's progress
    checkpoints, where a cancel or a lost lease stops the render (by raising).
    Whatever stops it, the temporary file is removed and `path` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid4().hex}.part")
    try:
        writer = PdfWriter()
        for part in parts:
            writer.append(PdfReader(BytesIO(html_to_pdf(part))))
            on_part(len(writer.pages))
        on_writing(len(writer.pages))
        _stamp_page_numbers(writer)
        writer.add_metadata({"/Title": title, "/Producer": "WeasyPrint and pypdf"})
        # Drop the stamp pages' own objects, now unused.
        writer.compress_identical_objects(remove_unreferenced=True)
        with open(temporary, "wb") as file:
            writer.write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return PdfFile(pages=len(writer.pages), size=path.stat().st_size)


def _stamp_page_numbers(writer: PdfWriter) -> None:
    """Write "Page n of N" at the foot of every page.

    The stamps are one more WeasyPrint document of N blank pages, whose page
    size and margins come from the same stylesheet, laid over the pages.
    """
    total = len(writer.pages)
    html = render_to_string(PAGE_NUMBERS_TEMPLATE, {"pages": range(total)})
    stamps = PdfReader(BytesIO(html_to_pdf(html)))
    # Appended first, so that the stamps' font is copied into the file once
    # and every page refers to it (merging a page from another file copies
    # its resources each time); then laid over the pages and removed.
    writer.append(stamps)
    for number in range(total):
        page = writer.pages[number]
        page.merge_page(writer.pages[total + number])
        page.compress_content_streams()  # Merging wrote them uncompressed.
    for _ in range(total):
        writer.remove_page(total)


def parts_clean(directory: Path, *, older_than: float = 3600) -> int:
    """Delete temporary files of write_pdf older than `older_than` seconds:
    those of a worker killed while writing (a finished or stopped one removes
    its own). Returns how many."""
    removed = 0
    cutoff = time.time() - older_than
    for part in directory.glob(".*.part") if directory.is_dir() else ():
        if part.stat().st_mtime < cutoff:
            part.unlink(missing_ok=True)
            removed += 1
    return removed
