"""Channel health and the channel form (admins only). Credentials are write-only."""

from __future__ import annotations

import json

from django import forms
from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from inbox.models import Channel
from inbox.services.channels import save_channel
from webcare.http import AuthedRequest
from webcare.permissions import admin_required


def _split(value: str) -> list[str]:
    items = value.replace("\n", ",").split(",")
    return list(dict.fromkeys(i.strip() for i in items if i.strip()))


class ChannelForm(forms.ModelForm):
    own_handles_text = forms.CharField(
        label=_("Our own account handles"),
        required=False,
        help_text=_("Comma-separated, without @. Used to recognise our posts and impersonators."),
    )
    keywords_text = forms.CharField(
        label=_("Keywords to monitor"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The organisation's name and its variants, one per line or comma-separated."),
    )
    config = forms.JSONField(
        label=_("Settings"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Non-secret connection settings as JSON, e.g. the instance URL or page id."),
    )
    # Write-only: never rendered back (render_value=False); empty keeps what is stored.
    credentials = forms.CharField(
        label=_("Credentials"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_(
            "A JSON object with tokens or passwords. Stored encrypted and never shown again; "
            "leave empty to keep the current credentials."
        ),
    )

    class Meta:
        model = Channel
        fields = ["kind", "name", "poll_interval_seconds", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["own_handles_text"] = ", ".join(self.instance.own_handles or [])
            self.initial["keywords_text"] = "\n".join(self.instance.keywords or [])
            self.initial["config"] = self.instance.config or {}
        self.fields["poll_interval_seconds"].min_value = 5

    def clean_config(self):
        value = self.cleaned_data.get("config")
        if value in (None, ""):
            return {}
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Enter a JSON object."))
        return value

    def clean_credentials(self):
        raw = self.cleaned_data.get("credentials", "")
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise forms.ValidationError(_("Enter a JSON object.")) from None
        if not isinstance(value, dict):
            raise forms.ValidationError(_("Enter a JSON object."))
        return value

    def clean_poll_interval_seconds(self):
        value = self.cleaned_data["poll_interval_seconds"]
        if value < 5:
            raise forms.ValidationError(_("Poll at most every 5 seconds."))
        return value

    def channel_data(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        data["own_handles"] = [h.lstrip("@") for h in _split(self.cleaned_data["own_handles_text"])]
        data["keywords"] = _split(self.cleaned_data["keywords_text"])
        data["config"] = self.cleaned_data["config"]
        return data


def _health_notes(channel: Channel) -> list[str]:
    """What a poll wrote in the cursor that an admin should know (X direct messages)."""
    from inbox.channels import x_dm

    dm = (channel.cursor or {}).get("dm") if channel.kind == "x" else None
    if not isinstance(dm, dict):
        return []
    notes: list[str] = []
    if dm.get("off") == x_dm.OFF_NO_USER_CONTEXT:
        notes.append(gettext("Direct messages off: needs user-context keys."))
    elif dm.get("off") == x_dm.OFF_FORBIDDEN:
        notes.append(
            gettext(
                "Direct messages off: X refused access"
                " (the app lacks the Direct Messages permission)."
            )
        )
    if dm.get("group_skipped"):
        notes.append(
            ngettext(
                "%(n)s group direct message skipped (only one-to-one chats come in).",
                "%(n)s group direct messages skipped (only one-to-one chats come in).",
                int(dm["group_skipped"]),
            )
            % {"n": int(dm["group_skipped"])}
        )
    return notes


@require_GET
@admin_required
def channels(request: AuthedRequest):
    rows = list(
        Channel.objects.only(
            "id",
            "kind",
            "name",
            "enabled",
            "status",
            "last_success_at",
            "last_error",
            "last_error_at",
            "consecutive_failures",
            "rate_limit_reset_at",
            "next_poll_at",
            "ingest_day",
            "ingest_day_count",
            "ingest_problem_count",
            "last_ingest_problem",
            "last_ingest_problem_at",
            "cursor",
        ).order_by("name", "id")
    )
    # Each row with what its polls noted (a list per row: the template walks the pairs).
    health = [(row, _health_notes(row)) for row in rows]
    return render(request, "inbox/channels.html", {"channels": health, "active": "settings"})


@require_http_methods(["GET", "POST"])
@admin_required
def channel_new(request: AuthedRequest):
    return _channel_form(request, None)


@require_http_methods(["GET", "POST"])
@admin_required
def channel_edit(request: AuthedRequest, pk: int):
    return _channel_form(request, get_object_or_404(Channel, pk=pk))


def _channel_form(request: AuthedRequest, channel: Channel | None):
    form = ChannelForm(request.POST or None, instance=channel)
    if request.method == "POST" and form.is_valid():
        saved = save_channel(
            channel=channel,
            data=form.channel_data(),
            credentials=form.cleaned_data["credentials"],
            acting_user=request.user,
        )
        messages.success(request, _("Channel %(name)s saved.") % {"name": saved.name})
        return redirect("inbox:channels")
    return render(
        request,
        "inbox/channels_form.html",
        {
            "form": form,
            "channel": channel,
            "has_credentials": bool(channel and channel.credentials_encrypted),
            "active": "settings",
        },
    )
