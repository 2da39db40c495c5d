from datetime import timedelta

from django import forms
from django.utils import timezone

from apps.core import selectors
from apps.core.models import Job
from apps.core.operations import REPLAYABLE


class ReplayForm(forms.Form):
    """Which jobs an incident replay runs again: a type, the state they ended
    in, and when they ended."""

    kind = forms.ChoiceField(label="Job type")
    state = forms.ChoiceField(
        label="That ended",
        choices=[(state, Job.Status(state).label) for state in REPLAYABLE],
    )
    start = forms.DateTimeField(
        label="From (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = forms.DateTimeField(
        label="To (UTC)", widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = selectors.job_types()

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end:
            if start >= end:
                raise forms.ValidationError("The range must end after it starts.")
            if end - start > timedelta(days=31):
                raise forms.ValidationError("Replay at most 31 days at once.")
            if start > timezone.now():
                raise forms.ValidationError("The range starts in the future.")
        return data

    @property
    def model(self) -> type[Job]:
        return selectors.job_model(self.cleaned_data["kind"])
