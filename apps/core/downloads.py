"""Stored files served to their owner, as responses a browser cannot misuse."""

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404


def private_file_response(
    file, filename: str, *, content_type: str, download: bool = False
) -> FileResponse:
    """A stored file, shown in the browser or (`download`) saved as `filename`.

    Never sniffed as anything but `content_type`; shown in a tab, it is still
    a document of this site, so it may run nothing and load nothing; and no
    shared cache keeps a copy of a private file.
    """
    response = FileResponse(
        file, as_attachment=download, filename=filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    return response


def pdf_response(file, filename: str, *, download: bool) -> FileResponse:
    return private_file_response(
        file, filename, content_type="application/pdf", download=download
    )


def stored_pdf_response(name: str, filename: str, *, download: bool) -> FileResponse:
    """The PDF stored under `name` (default storage), or a 404 if it is gone."""
    try:
        file = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404("This file is gone.") from None
    return pdf_response(file, filename, download=download)
