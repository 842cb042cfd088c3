"""Forms of the inbox and the team workspace: filters, triage actions, saved views, contact notes,
the team's actions and the reply composer. Views read POST data only through these, so bad input
is answered with the field's message instead of being guessed at or cut short."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from inbox.models import (
    AfterSend,
    Channel,
    ContactNote,
    Flag,
    HouseRule,
    Label,
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
    # The low-priority view: only what the "needs a reply" hint scored unlikely. Never a
    # default: the inbox without it shows every conversation.
    no_reply_likely = forms.BooleanField(label=_("No reply likely"), required=False)
    sort = forms.ChoiceField(
        label=_("Order"),
        required=False,
        choices=[
            ("", pgettext_lazy("inbox order", "Newest first")),
            ("needs_reply", _("Most likely needs a reply first")),
        ],
    )
    # A label id: the select is rendered from the reference lists; an unknown id finds nothing.
    label = forms.IntegerField(label=_("Label"), required=False, min_value=1)

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


BULK_ACTION_CHOICES = [
    ("forward", _("Forward")),
    ("assign", _("Assign")),
    ("no_reply", _("No reply needed")),
    ("hide", _("Hide")),
    ("flag", _("Flag")),
    ("priority", _("Set priority")),
    ("label", _("Add label")),
    ("unlabel", _("Remove label")),
]


class BulkForm(forms.Form):
    action = forms.ChoiceField(label=_("Bulk action"), choices=BULK_ACTION_CHOICES)
    selected = forms.CharField(required=False)  # filled from the checkboxes ("id:version")
    # The list's filters, to return to after a plain POST.
    filter_query = forms.CharField(required=False, max_length=2000)
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
    # Archived labels validate here (they may be removed); the service refuses adding one.
    label = forms.ModelChoiceField(label=_("Label"), queryset=Label.objects.all(), required=False)

    NEEDS = {
        "forward": "department",
        "assign": "assignee",
        "no_reply": "reason",
        "hide": "rule",
        "flag": "flag",
        "priority": "priority",
        "label": "label",
        "unlabel": "label",
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

    def clean_filter_query(self) -> str:
        """Only the inbox's own filters go back into the redirect; other keys are dropped."""
        try:
            pairs = parse_qsl(self.cleaned_data["filter_query"], strict_parsing=True)
        except ValueError:
            if self.cleaned_data["filter_query"]:
                raise forms.ValidationError(_("The list filters could not be read.")) from None
            pairs = []
        return urlencode([(k, v) for k, v in pairs if k in InboxFilterForm.base_fields])

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


# --- The team workspace -------------------------------------------------------------------------

TEXT_LIMIT = 20000  # a reply or note; far above any platform's limit, below a pasted book


class NoInputForm(forms.Form):
    """An action that reads nothing from the request."""


class TeamActionForm(forms.Form):
    """The version the user saw, when the page sent it (optional: a conflict check, not a key)."""

    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1, required=False)


class ReassignForm(TeamActionForm):
    assignee = forms.ModelChoiceField(
        label=_("Give to colleague"),
        queryset=User.objects.all(),
        error_messages={
            "required": _("Choose a colleague."),
            "invalid_choice": _("Choose a colleague."),
        },
    )


class HandBackForm(TeamActionForm):
    # Required by the service, which says why: an empty reason is a refusal, not a form error.
    reason = forms.CharField(label=_("Reason"), required=False, max_length=1000)


class CloseForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, max_length=1000)


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Note"), required=False, max_length=TEXT_LIMIT)


MAX_TEMPLATE_VALUES = 20


class ComposerForm(forms.Form):
    """The reply composer: its preview reads the same fields as saving does."""

    text = forms.CharField(label=_("Reply"), required=False, max_length=TEXT_LIMIT, strip=False)
    split = forms.BooleanField(required=False)
    private = forms.BooleanField(required=False)


class ReplySaveForm(ComposerForm):
    reply = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=1)
    after_send = forms.ChoiceField(
        label=_("After sending"), required=False, choices=AfterSend.choices
    )
    public_notice = forms.CharField(
        label=_("Public notice with a private message (optional)"),
        required=False,
        max_length=1000,
    )
    action = forms.ChoiceField(
        required=False, choices=[("draft", _("Save draft")), ("submit", _("Send"))]
    )
    # A WhatsApp template ("name:language"), sent instead of free text; its values come as
    # the repeated field template_parameter.
    template = forms.CharField(label=_("Template"), required=False, max_length=600)

    def clean_after_send(self) -> str:
        return self.cleaned_data["after_send"] or AfterSend.ANSWERED


class ApproveForm(forms.Form):
    # Empty: approve the text as it is; otherwise the reviewer's edit.
    text = forms.CharField(label=_("Reply"), required=False, max_length=TEXT_LIMIT, strip=False)


class SendBackForm(forms.Form):
    comment = forms.CharField(label=_("Comment"), required=False, max_length=TEXT_LIMIT)


class EraseForm(forms.Form):
    confirm = forms.ChoiceField(
        choices=[("erase", "erase")],
        error_messages={
            "required": _("Tick the box to confirm the erasure."),
            "invalid_choice": _("Tick the box to confirm the erasure."),
        },
    )


class LabelForm(forms.ModelForm):
    """An administrator's label: the rules (a unique name whatever its case, a known colour)
    are checked by inbox.services.labels, whose refusal shows on the form."""

    class Meta:
        model = Label
        fields = ["name", "colour", "description", "is_active"]
        labels = {"is_active": _("Active (archived labels stay on conversations)")}


class ConversationLabelsForm(VersionedForm):
    """The labels a conversation should have: the ticked boxes. Offered: the active labels and
    those it has (an archived label can be taken off, never put on)."""

    labels = forms.ModelMultipleChoiceField(
        label=_("Labels"),
        queryset=Label.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def __init__(self, *args, current: frozenset[int] = frozenset(), **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["labels"]
        assert isinstance(field, forms.ModelMultipleChoiceField)
        field.queryset = Label.objects.filter(Q(is_active=True) | Q(pk__in=current))


class HandoverForm(forms.Form):
    """ "Continue privately" (inbox/services/handover.py): the service says what is missing."""

    target = forms.ChoiceField(
        label=_("Continue in"),
        choices=[("same", _("A direct message")), ("whatsapp", _("WhatsApp"))],
    )
    message = forms.CharField(
        label=_("Private message"), required=False, max_length=TEXT_LIMIT, strip=False
    )
    notice = forms.CharField(label=_("Public reply"), required=False, max_length=1000)
    whatsapp_channel = forms.IntegerField(label=_("WhatsApp number"), required=False, min_value=1)
    phone = forms.CharField(label=_("Customer's mobile number"), required=False, max_length=40)
    template = forms.CharField(label=_("Template"), required=False, max_length=600)
    action = forms.ChoiceField(
        required=False, choices=[("draft", _("Save as drafts")), ("submit", _("Send"))]
    )
