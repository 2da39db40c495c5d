from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.core import downloads
from apps.uploads import forms, selectors, services
from apps.uploads.thumbnails import SIZES

CONTENT_TYPES = {
    "jpg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
}


@login_required
def gallery(request):
    """The upload form and the user's images, newest first."""
    if request.method == "POST":
        # Every answer to an upload is messages and then this page again: a
        # redirect, or, to the progress bar's background request
        # (static/js/app.js), a 204 after which it loads the page itself (a
        # redirect it followed would show, and so use up, the messages).
        form = forms.UploadForm(request.POST, request.FILES)
        if not form.is_valid():
            for errors in form.errors.values():
                for error in errors:
                    messages.error(request, error)
            return _uploaded(request)
        upload = services.images_upload(
            owner=request.user, files=form.cleaned_data["images"]
        )
        for message in upload.refused:
            messages.error(request, message)
        if upload.images:
            count = len(upload.images)
            messages.success(
                request,
                f"{count} image{'s' if count != 1 else ''} uploaded: the "
                "thumbnails appear below as they are made.",
            )
        return _uploaded(request)
    form = forms.UploadForm()
    page = Paginator(selectors.images_of(request.user), 48).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "uploads/gallery.html",
        {
            "form": form,
            "page": page,
            "max_bytes": settings.UPLOAD_MAX_BYTES,
            "max_files": settings.UPLOAD_MAX_FILES,
            "max_request_bytes": settings.UPLOAD_MAX_REQUEST_BYTES,
            "max_pixels": settings.UPLOAD_MAX_PIXELS // 1_000_000,
        },
    )


def _uploaded(request):
    if request.headers.get("X-Upload-Progress"):
        return HttpResponse(status=204)
    return redirect("uploads:gallery")


@login_required
@require_safe
def image_detail(request, pk):
    image = get_object_or_404(selectors.images_of(request.user), pk=pk)
    return render(request, "uploads/image_detail.html", {"image": image})


@login_required
@require_safe
def image_file(request, pk, variant):
    """The original or a thumbnail, to its owner only, as an image: never
    sniffed, never run as a page."""
    image = get_object_or_404(selectors.images_of(request.user), pk=pk)
    if variant == "original":
        name = image.original
    elif variant in {str(size) for size in SIZES}:
        thumbnail = image.thumbnail(int(variant))
        if thumbnail is None:
            raise Http404("No such thumbnail yet.")
        name = thumbnail["name"]
    else:
        raise Http404("No such file.")
    extension = name.rsplit(".", 1)[-1]
    try:
        file = default_storage.open(name, "rb")
    except FileNotFoundError:
        raise Http404("This file is gone.") from None
    return downloads.private_file_response(
        file,
        f"image-{image.pk}-{variant}.{extension}",
        content_type=CONTENT_TYPES[extension],
    )


@login_required
@require_POST
def image_delete(request, pk):
    image = get_object_or_404(selectors.images_of(request.user), pk=pk)
    services.image_delete(image=image)
    messages.success(request, f"{image.name} and its thumbnails are deleted.")
    return redirect("uploads:gallery")
