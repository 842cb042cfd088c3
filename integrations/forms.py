from django import forms
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from integrations.models import EventType
from integrations.targets import check_typed_target


class SubscriptionForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    url = forms.URLField(
        label=_("Target URL"),
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"]), check_typed_target],
        help_text=_("Where the events are POSTed: an http or https address."),
        assume_scheme="https",
    )
    event_types = forms.MultipleChoiceField(
        label=_("Events"),
        choices=EventType.choices,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one event.")},
    )
