from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat


class OrderImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        error_messages={"required": "Choose a CSV file to import."},
    )

    def clean_file(self):
        file = self.cleaned_data["file"]
        if file.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is {filesizeformat(file.size)}; we take files up to "
                f"{filesizeformat(settings.IMPORT_MAX_BYTES)}. Split it and "
                "upload the parts."
            )
        return file
