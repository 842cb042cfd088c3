"""Forms of the coordinator's inbox: filters, triage actions, saved views, contact notes."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from inbox.models import (
    Channel,
    ContactNote,
    Flag,
    HouseRule,
    NoReplyReason,
    Priority,
    SavedView,
    Sentiment,
    Status,
)
from inbox.services.triage import BULK_ACTIONS, MANUAL_FLAGS
from routing.models import Department
from webcare import refcache
from webcare.accounts.models import User
from webcare.fragments import ReusedSelect

LANGUAGES = [("", _("Any language")), ("nl", "NL"), ("en", "EN"), ("de", "DE"), ("fr", "FR")]


class DepartmentFilterField(forms.ChoiceField):
    """'' = the shared queue, 'any' = every department, or one department's id."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in ("", None):
            return None
        if value == "any":
            return "any"
        return int(value)

    def valid_value(self, value):
        return True


class InboxFilterForm(forms.Form):
    q = forms.CharField(label=_("Search"), required=False, max_length=200)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Open")), ("all", _("All"))] + list(Status.choices),
    )
    channel = forms.ModelChoiceField(
        label=_("Channel"),
        required=False,
        queryset=Channel.objects.all(),
        empty_label=_("Any channel"),
    )
    department = DepartmentFilterField(label=_("Department"), required=False)
    flag = forms.TypedChoiceField(
        label=_("Flag"),
        required=False,
        coerce=int,
        empty_value=None,
        choices=[("", _("Any flag"))] + [(int(f), label) for f, label in Flag.labels().items()],
    )
    language = forms.ChoiceField(label=_("Language"), required=False, choices=LANGUAGES)
    sentiment = forms.ChoiceField(
        label=_("Sentiment"),
        required=False,
        choices=[("", _("Any sentiment"))] + list(Sentiment.choices),
    )
    overdue = forms.BooleanField(label=_("Overdue"), required=False)
    unassigned = forms.BooleanField(label=_("Unassigned"), required=False)

    def __init__(self, *args, departments=None, **kwargs):
        super().__init__(*args, **kwargs)
        # departments: [(id, name)]; the inbox page renders its selects by hand from such lists.
        self.fields["department"].choices = [
            ("", _("Shared queue")),
            ("any", _("All departments")),
        ] + list(departments or [])


class VersionedForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)


class OptionsFromCopyMixin:
    """An unbound form only shows its model choices: it takes them from the per-process copy
    (webcare.refcache) instead of a query per select. The coordinator panel holds four such
    selects, each a server-side cursor of three round trips and ~100 options built one by one:
    12 ms of CPU on every look at a conversation.

    A bound form validates against the field's queryset as ever, so an option removed in the
    meantime (within the copy's 30 s) is refused with a clear error, never accepted.
    """

    # field name -> refcache key; the key must change when the field's queryset does.
    options_from_copy: dict[str, str] = {}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.is_bound:
            return
        for name, key in self.options_from_copy.items():
            field = self.fields[name]
            options = refcache.cached(
                ("options", key),
                lambda field=field: [(o.pk, field.label_from_instance(o)) for o in field.queryset],
            )
            empty = [] if field.empty_label is None else [("", field.empty_label)]
            field.widget = ReusedSelect(attrs=field.widget.attrs)
            field.widget.is_required = field.required
            field.choices = empty + options  # the widget gets them too


class ForwardForm(OptionsFromCopyMixin, VersionedForm):
    options_from_copy = {"department": "departments"}
    department = forms.ModelChoiceField(label=_("Department"), queryset=Department.objects.all())
    note = forms.CharField(
        label=_("Note for the team"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class AssignForm(OptionsFromCopyMixin, VersionedForm):
    options_from_copy = {"assignee": "active-users"}
    assignee = forms.ModelChoiceField(
        label=_("Assign to"),
        queryset=User.objects.filter(is_active=True).order_by("first_name", "username"),
    )


class NoReplyForm(OptionsFromCopyMixin, VersionedForm):
    options_from_copy = {"reason": "active-no-reply-reasons"}
    reason = forms.ModelChoiceField(
        label=_("Reason"), queryset=NoReplyReason.objects.filter(active=True)
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=1000)


class HideForm(OptionsFromCopyMixin, VersionedForm):
    options_from_copy = {"rule": "active-house-rules"}
    rule = forms.ModelChoiceField(
        label=_("House rule"), queryset=HouseRule.objects.filter(active=True)
    )


class FlagForm(VersionedForm):
    flag = forms.TypedChoiceField(
        label=_("Flag"), coerce=int, choices=[(int(f), Flag.labels()[f]) for f in MANUAL_FLAGS]
    )
    on = forms.TypedChoiceField(
        label=_("Set or clear"),
        coerce=lambda v: v == "1",
        choices=[("1", _("Set")), ("0", _("Clear"))],
        initial="1",
    )


class PriorityForm(VersionedForm):
    priority = forms.TypedChoiceField(label=_("Priority"), coerce=int, choices=Priority.choices)


class MergeForm(VersionedForm):
    other = forms.IntegerField(label=_("Merge into conversation number"), min_value=1)
    other_version = forms.IntegerField(widget=forms.HiddenInput, required=False)


class SplitForm(VersionedForm):
    messages = forms.TypedMultipleChoiceField(
        label=_("Messages to split off"), coerce=int, choices=()
    )

    def __init__(self, *args, message_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["messages"].choices = list(message_choices)


class BulkForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Bulk action"),
        choices=[
            ("forward", _("Forward")),
            ("assign", _("Assign")),
            ("no_reply", _("No reply needed")),
            ("hide", _("Hide")),
            ("flag", _("Flag")),
            ("priority", _("Set priority")),
        ],
    )
    selected = forms.CharField(required=False)  # filled from the checkboxes ("id:version")
    department = forms.ModelChoiceField(
        label=_("Department"), queryset=Department.objects.all(), required=False
    )
    assignee = forms.ModelChoiceField(
        label=_("Assign to"), queryset=User.objects.filter(is_active=True), required=False
    )
    reason = forms.ModelChoiceField(
        label=_("Reason"), queryset=NoReplyReason.objects.filter(active=True), required=False
    )
    rule = forms.ModelChoiceField(
        label=_("House rule"), queryset=HouseRule.objects.filter(active=True), required=False
    )
    flag = forms.TypedChoiceField(
        label=_("Flag"),
        coerce=int,
        required=False,
        empty_value=None,
        choices=[("", "—")]
        + [(int(f), Flag.labels()[f]) for f in MANUAL_FLAGS if f != Flag.THREAT],
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        coerce=int,
        required=False,
        empty_value=None,
        choices=[("", "—")] + list(Priority.choices),
    )

    NEEDS = {
        "forward": "department",
        "assign": "assignee",
        "no_reply": "reason",
        "hide": "rule",
        "flag": "flag",
        "priority": "priority",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        assert set(self.NEEDS) == set(BULK_ACTIONS)

    def clean(self):
        data = super().clean()
        action = data.get("action")
        if action and data.get(self.NEEDS[action]) in (None, ""):
            self.add_error(self.NEEDS[action], _("Choose a value for this action."))
        return data

    def items(self, raw_values: list[str]) -> dict[int, int]:
        """The selection: checkbox values "id:version", bad ones dropped."""
        items: dict[int, int] = {}
        for raw in raw_values[:5000]:
            pk, _sep, version = raw.partition(":")
            if pk.isdigit() and version.isdigit():
                items[int(pk)] = int(version)
        return items


class SavedViewForm(forms.ModelForm):
    class Meta:
        model = SavedView
        fields = ["name", "query"]
        widgets = {"query": forms.HiddenInput}


class ContactNoteForm(forms.ModelForm):
    class Meta:
        model = ContactNote
        fields = ["text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 2})}
