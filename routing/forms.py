from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.models import Flag, Priority, Sentiment
from routing.models import RoutingRule
from routing.rules import pattern_error


class RoutingRuleForm(forms.ModelForm):
    keywords_text = forms.CharField(
        label=_("Keywords (comma separated, any of them)"), required=False, max_length=2000
    )
    flag_bits = forms.TypedMultipleChoiceField(
        label=_("Flags (any of them)"),
        required=False,
        coerce=int,
        choices=[(int(f), label) for f, label in Flag.labels().items()],
        widget=forms.CheckboxSelectMultiple,
    )
    sentiment = forms.ChoiceField(
        label=_("Sentiment"), required=False, choices=[("", _("Any"))] + list(Sentiment.choices)
    )
    set_priority = forms.TypedChoiceField(
        label=_("Set priority"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("Leave as is"))] + list(Priority.choices),
    )

    class Meta:
        model = RoutingRule
        fields = [
            "name",
            "active",
            "keywords_text",
            "pattern",
            "channel",
            "language",
            "contact_tag",
            "flag_bits",
            "sentiment",
            "department",
            "auto_forward",
            "set_priority",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["keywords_text"] = ", ".join(self.instance.keywords or [])
            self.initial["flag_bits"] = [int(f) for f in Flag if self.instance.flags_any & f]

    def clean_pattern(self):
        pattern = self.cleaned_data["pattern"]
        if pattern and (error := pattern_error(pattern)):
            raise forms.ValidationError(
                _("Not a valid regular expression: %(error)s"), params={"error": error}
            )
        return pattern

    def clean(self):
        data = super().clean()
        data["keywords"] = [
            k.strip() for k in (data.get("keywords_text") or "").split(",") if k.strip()
        ]
        data["flags_any"] = sum(set(data.get("flag_bits") or []))
        if data.get("auto_forward") and not data.get("department"):
            self.add_error("department", _("Choose the department to forward to."))
        if not data.get("department") and data.get("set_priority") is None:
            raise forms.ValidationError(_("A rule needs an action: a department or a priority."))
        return data

    def apply_to(self, rule: RoutingRule) -> RoutingRule:
        """Copy the cleaned values onto a rule without saving (for trying it out)."""
        for name in (
            "name",
            "active",
            "pattern",
            "channel",
            "language",
            "contact_tag",
            "sentiment",
            "department",
            "auto_forward",
            "set_priority",
            "keywords",
            "flags_any",
        ):
            setattr(rule, name, self.cleaned_data.get(name))
        return rule
