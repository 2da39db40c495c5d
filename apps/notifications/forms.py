from django import forms

from apps.notifications.kinds import KINDS
from apps.notifications.models import Announcement


class PreferencesForm(forms.Form):
    email_kinds = forms.MultipleChoiceField(
        label="Also send me an email when",
        choices=[(key, kind.label) for key, kind in KINDS.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    digest = forms.BooleanField(
        label="Send me a daily digest of what I have not read (at 07:00 UTC)",
        required=False,
    )


class AnnouncementForm(forms.Form):
    subject = forms.CharField(max_length=120)
    body = forms.CharField(
        label="Message",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Plain text, up to 2,000 characters. Each person gets it once.",
    )
    audience = forms.ChoiceField(choices=Announcement.Audience.choices)

    def __init__(self, *args, audience_sizes: dict[str, int], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["audience"].choices = [
            (value, f"{label} ({audience_sizes[value]:,})")
            for value, label in Announcement.Audience.choices
        ]

    def clean_subject(self):
        # One line: it becomes the email's subject.
        return " ".join(self.cleaned_data["subject"].split())
