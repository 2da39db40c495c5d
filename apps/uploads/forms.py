from django import forms


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Several files from one input (Django's documented pattern)."""

    def __init__(self, *args, **kwargs):
        # An empty file is refused by the checks, by name, with the others
        # still taken: not the whole upload for one bad file.
        kwargs.setdefault("allow_empty_file", True)
        kwargs.setdefault(
            "widget",
            MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if not data:  # An empty list: nothing chosen.
            return [super().clean(None, initial)]
        if isinstance(data, list | tuple):
            return [
                super(MultipleImageField, self).clean(item, initial) for item in data
            ]
        return [super().clean(data, initial)]


class UploadForm(forms.Form):
    images = MultipleImageField(
        label="Images",
        error_messages={"required": "Choose one or more images to upload."},
    )
