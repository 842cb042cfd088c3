"""Inbox views: the coordinator's shared inbox, the conversation panel and triage actions.

Shape of each view: selector, form, one service call, render. htmx requests get fragments; plain
requests get the full page or a redirect (the app works without JavaScript, only slower).

Size: one view per coordinator action over one page and its panel; each is a few lines of the
same shape, sharing the list, panel and action-response helpers of this module.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlencode

from django.contrib import messages as flash
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from inbox import forms
from inbox.models import (
    Contact,
    Conversation,
    Flag,
    HouseRule,
    Label,
    Priority,
    SavedView,
    Sentiment,
    Status,
)
from inbox.selectors import inbox as selectors
from inbox.selectors import team as team_selectors
from inbox.services import labels as labels_service
from inbox.services import presence, triage
from inbox.views.actions import run_action
from inbox.views.labels import labels_context
from webcare.csvcell import safe_cell
from webcare.fragments import choices_key
from webcare.http import AuthedRequest
from webcare.permissions import any_user_required, coordinator_required, public_endpoint

FILTER_KEYS = (
    "q",
    "status",
    "channel",
    "department",
    "flag",
    "language",
    "sentiment",
    "overdue",
    "unassigned",
    "no_reply_likely",
    "sort",
    "label",
)


def _encode_key(key: tuple[datetime, int] | None) -> str:
    return f"{key[0].isoformat()}_{key[1]}" if key else ""


def _parse_key(raw: str) -> tuple[datetime, int] | None:
    if not raw:
        return None
    try:
        stamp, pk = raw.rsplit("_", 1)
        # A "+" of the UTC offset that arrived unencoded has become a space.
        parsed = datetime.fromisoformat(stamp.replace(" ", "+"))
        if parsed.tzinfo is None:
            raise ValueError
        return parsed, int(pk)
    except ValueError:
        raise Http404("bad page key") from None


def _parse_score_key(raw: str) -> tuple[int, datetime, int] | None:
    """The page key of the "needs a reply first" order: "score_received_id"."""
    if not raw:
        return None
    score, _sep, rest = raw.partition("_")
    key = _parse_key(rest)
    try:
        return (int(score), *key) if key else None
    except ValueError:
        raise Http404("bad page key") from None


def _parse_before(request) -> tuple[datetime, int] | None:
    return _parse_key(request.GET.get("before", ""))


def _render_list(request, qs, template: str, extra: dict):
    rows, next_key = selectors.keyset_page(qs, before=_parse_before(request))
    context = {"conversations": rows, "next_before": _encode_key(next_key), **extra}
    if request.htmx and request.GET.get("before"):
        return render(request, "inbox/conversation_rows.html", context)
    return render(request, template, context)


# --- The shared inbox -----------------------------------------------------------------------


def _filters(request, departments) -> tuple[forms.InboxFilterForm, dict, str]:
    form = forms.InboxFilterForm(request.GET or None, departments=departments)
    if form.is_bound:
        form.is_valid()  # invalid fields are dropped, the valid ones still filter
        cleaned = {k: v for k, v in form.cleaned_data.items() if v not in (None, "", False)}
    else:
        cleaned = {}
    query = urlencode([(k, request.GET[k]) for k in FILTER_KEYS if request.GET.get(k)])
    return form, cleaned, query


def _row_context(request, rows: list[Conversation], names: dict | None = None) -> dict:
    viewers = presence.viewers_of([c.pk for c in rows], exclude_user=request.user)
    return {
        "rows": selectors.inbox_row_values(rows, names=names, viewers=viewers),
        "flag_labels": Flag.labels(),
    }


@require_GET
@coordinator_required
def inbox(request: AuthedRequest):
    refs = selectors.reference_lists()
    form, filters, query = _filters(request, refs["department"])
    qs, shared = selectors.inbox_queryset(request.user, filters)
    if filters.get("sort") == "needs_reply":
        rows, score_key = selectors.needs_reply_page(
            qs,
            before=_parse_score_key(request.GET.get("before", "")),
            fields=selectors.INBOX_ROW_FIELDS,
        )
        next_before = (
            f"{score_key[0]}_{_encode_key(score_key[1:])}" if score_key is not None else ""
        )
    else:
        rows, next_key = selectors.keyset_page(
            qs,
            before=_parse_before(request),
            related=("contact",),
            fields=selectors.INBOX_ROW_FIELDS,
        )
        next_before = _encode_key(next_key)
    names = {key: dict(values) for key, values in refs.items()}
    context = {
        "active": "inbox",
        "form": form,
        "conversations": rows,
        "next_before": next_before,
        "top_key": _encode_key((rows[0].received_at, rows[0].pk)) if rows else "0",
        "filter_query": query,
        "is_shared": shared,
        **_row_context(request, rows, names),
    }
    if request.htmx and request.GET.get("before"):
        return render(request, "inbox/inbox_rows.html", context)
    if request.htmx and request.htmx.target == "inbox-results":
        return render(request, "inbox/inbox_results.html", context)
    current = {k: request.GET.get(k, "") for k in FILTER_KEYS}
    options: dict[str, Sequence[tuple[object, object]]] = {
        "status": [("all", _("All"))] + list(Status.choices),
        "department": [("any", _("All departments")), *refs["department"]],
        "flag": [(int(f), label) for f, label in Flag.labels().items()],
        "manual_flag": [
            (int(f), Flag.labels()[f]) for f in triage.MANUAL_FLAGS if f != Flag.THREAT
        ],
        "language": forms.LANGUAGES[1:],
        "sentiment": list(Sentiment.choices),
        "sort": [("needs_reply", _("Most likely needs a reply first"))],
        "priority": list(Priority.choices),
        "bulk_action": forms.BULK_ACTION_CHOICES,
        "bulk_label": refs["label"],
        # Archived labels still filter (their conversations keep them); only active ones apply.
        "label": [
            *refs["label"],
            *(
                (pk, _("%(name)s (archived)") % {"name": name})
                for pk, name in refs["archived_label"]
            ),
        ],
    }
    context.update(
        {
            "saved_views": SavedView.objects.filter(user=request.user),
            "refs": refs,
            "current": current,
            "options": options,
            # The selects are reused as rendered (over a hundred options through the template
            # engine cost several ms); the key holds every choice, so it changes with them.
            "choices_key": choices_key(*refs.values(), *options.values()),
        }
    )
    return render(request, "inbox/inbox.html", context)


def _top_key_or_epoch(request) -> tuple[datetime, int]:
    key = _parse_key(request.GET.get("after", "")) if request.GET.get("after", "0") != "0" else None
    if key is None:
        return datetime.fromisoformat("1970-01-01T00:00:00+00:00"), 0
    return key


@require_GET
@coordinator_required
def inbox_new_marker(request: AuthedRequest):
    """Polled every few seconds: how many rows arrived above the user's top row (capped)."""
    _form, filters, query = _filters(request, [])
    qs, _shared = selectors.inbox_queryset(request.user, filters)
    after = request.GET.get("after", "0")
    count = selectors.newer_than(qs, after=_top_key_or_epoch(request))
    return render(
        request,
        "inbox/new_marker.html",
        {
            "new_count": count,
            "capped": count > selectors.NEW_MARKER_CAP,
            "cap": selectors.NEW_MARKER_CAP,
            "top_key": after,
            "filter_query": query,
        },
    )


@require_GET
@coordinator_required
def inbox_newer_rows(request: AuthedRequest):
    """The rows above the user's top row, prepended by htmx; the marker resets out of band."""
    _form, filters, query = _filters(request, [])
    qs, _shared = selectors.inbox_queryset(request.user, filters)
    rows = selectors.newer_rows(qs, after=_top_key_or_epoch(request))
    top = _encode_key((rows[0].received_at, rows[0].pk)) if rows else request.GET.get("after", "0")
    return render(
        request,
        "inbox/newer_rows.html",
        {
            "conversations": rows,
            "new_count": 0,
            "top_key": top,
            "filter_query": query,
            **_row_context(request, rows),
        },
    )


@require_POST
@coordinator_required
def saved_view_create(request: AuthedRequest):
    form = forms.SavedViewForm(request.POST)
    if form.is_valid():
        SavedView.objects.update_or_create(
            user=request.user,
            name=form.cleaned_data["name"],
            defaults={"query": form.cleaned_data["query"]},
        )
        flash.success(request, _("View saved."))
        return redirect(reverse("inbox:inbox") + "?" + form.cleaned_data["query"])
    flash.error(request, _("Give the view a name."))
    return redirect("inbox:inbox")


@require_POST
@coordinator_required
def saved_view_delete(request: AuthedRequest, pk: int):
    get_object_or_404(SavedView, pk=pk, user=request.user).delete()
    return redirect("inbox:inbox")


# --- The conversation panel -----------------------------------------------------------------


def _get_conversation(request, pk: int) -> Conversation:
    try:
        return selectors.get_conversation_for_user(request.user, pk)
    except Conversation.DoesNotExist:
        raise Http404 from None


def _panel_context(request, conv: Conversation) -> dict:
    # Not the platform's raw payload (kilobytes per message on real channels): never shown.
    thread = list(
        conv.messages.select_related("contact", "sent_by").defer("raw").order_by("created_at", "id")
    )
    events = list(conv.events.select_related("actor").order_by("-created_at", "-id")[:100])
    presence.touch(conv.pk, request.user)
    context = {
        "conversation": conv,
        "thread": thread,
        "events": events,
        "history": selectors.contact_history(conv),
        "notes": list(conv.contact.notes.select_related("author")[:20]),
        "viewers": presence.viewers_of([conv.pk], exclude_user=request.user).get(conv.pk, []),
        "flag_labels": Flag.labels(),
        "has_threat": bool(conv.flags & Flag.THREAT),
        # Only a threat flagged by a person kept evidence: the link shows where the page exists.
        "has_threat_evidence": bool(conv.flags & Flag.THREAT)
        and selectors.threat_evidence_events(conv).exists(),
        "note_form": forms.ContactNoteForm(),
        **labels_context(request.user, conv),
    }
    if request.user.is_coordinator:
        v = {"version": conv.version}
        context.update(
            {
                "can_triage": True,
                # auto_id per form: the panel holds several forms with a "version" field each.
                "forward_form": forms.ForwardForm(
                    initial={**v, "department": conv.suggested_department_id}, auto_id="forward-%s"
                ),
                "assign_form": forms.AssignForm(initial=v, auto_id="assign-%s"),
                "no_reply_form": forms.NoReplyForm(initial=v, auto_id="no-reply-%s"),
                "hide_form": forms.HideForm(initial=v, auto_id="hide-%s"),
                "flag_form": forms.FlagForm(initial=v, auto_id="flag-%s"),
                "priority_form": forms.PriorityForm(
                    initial={**v, "priority": conv.priority}, auto_id="priority-%s"
                ),
                "merge_form": forms.MergeForm(initial=v, auto_id="merge-%s"),
                "split_form": forms.SplitForm(
                    initial=v,
                    auto_id="split-%s",
                    message_choices=[
                        (m.pk, f"{m.created_at:%d-%m %H:%M} {m.text[:60]}") for m in thread
                    ],
                ),
            }
        )
    return context


@require_GET
@any_user_required
def conversation(request: AuthedRequest, pk: int):
    conv = _get_conversation(request, pk)
    context = _panel_context(request, conv)
    if request.htmx:
        return render(request, "inbox/conversation_panel.html", context)
    return render(request, "inbox/conversation.html", context)


@require_GET
@any_user_required
def conversation_presence(request: AuthedRequest, pk: int):
    """Polled by the open panel: refreshes "I am viewing" and shows who else is."""
    conv = _get_conversation(request, pk)
    presence.touch(conv.pk, request.user)
    viewers = presence.viewers_of([conv.pk], exclude_user=request.user).get(conv.pk, [])
    return render(request, "inbox/presence.html", {"conversation": conv, "viewers": viewers})


# --- Triage actions -------------------------------------------------------------------------


def _action_response(request, conv: Conversation, done_message: str, *, removed: bool):
    if request.htmx and removed:
        # The conversation left the shared queue: confirm, drop its row, and let the coordinator
        # move on; re-rendering the whole panel here would only slow the action down.
        return render(
            request,
            "inbox/action_done.html",
            {"conversation": conv, "done_message": done_message, "row": conv},
        )
    if request.htmx:
        context = _panel_context(request, conv)
        context.update({"done_message": done_message, "row_removed": removed, "row": conv})
        context.update(_row_context(request, [conv]))
        return render(request, "inbox/action_result.html", context)
    flash.success(request, done_message)
    return redirect(conv.get_absolute_url())


def _error_response(request, conv: Conversation | None, message: str, status: int):
    if request.htmx:
        response = render(
            request, "inbox/alert.html", {"message": message, "conversation": conv}, status=status
        )
        # The panel keeps what the user was looking at; the message goes to the alert region.
        target = "#panel-alert" if conv is not None else "#inbox-alert"
        return reswap(retarget(response, target), "innerHTML")
    flash.error(request, message)
    if conv is not None:
        return redirect(conv.get_absolute_url())
    return redirect("inbox:inbox")


def _run_action(request, pk: int, form_class, act, *, removed, form_kwargs=None):
    conv = _get_conversation(request, pk)
    form = form_class(request.POST, **(form_kwargs(conv) if form_kwargs else {}))

    def done(message: str):
        changed = _get_conversation(request, pk) if not request.htmx else conv
        return _action_response(request, changed, message, removed=removed(changed))

    return run_action(
        form,
        lambda data: act(conv, data),
        done=done,
        refused=lambda message, status: _error_response(request, conv, message, status),
    )


def _left_shared_queue(conv: Conversation) -> bool:
    return conv.department_id is not None or not conv.is_open


@require_POST
@coordinator_required
def forward(request: AuthedRequest, pk: int):
    def act(conv, data):
        triage.forward_conversation(
            conversation=conv,
            department=data["department"],
            acting_user=request.user,
            version=data["version"],
            note=data["note"],
        )
        return _("Forwarded to %(team)s.") % {"team": data["department"]}

    return _run_action(request, pk, forms.ForwardForm, act, removed=_left_shared_queue)


@require_POST
@coordinator_required
def assign(request: AuthedRequest, pk: int):
    def act(conv, data):
        triage.assign_conversation(
            conversation=conv,
            assignee=data["assignee"],
            acting_user=request.user,
            version=data["version"],
        )
        return _("Assigned to %(user)s.") % {"user": data["assignee"]}

    return _run_action(request, pk, forms.AssignForm, act, removed=_left_shared_queue)


@require_POST
@coordinator_required
def no_reply(request: AuthedRequest, pk: int):
    def act(conv, data):
        triage.mark_no_reply_needed(
            conversation=conv,
            reason=data["reason"],
            acting_user=request.user,
            version=data["version"],
            note=data["note"],
        )
        return _("Marked as needing no reply: %(reason)s.") % {"reason": data["reason"]}

    return _run_action(request, pk, forms.NoReplyForm, act, removed=_left_shared_queue)


@require_POST
@coordinator_required
def hide(request: AuthedRequest, pk: int):
    def act(conv, data):
        triage.hide_conversation(
            conversation=conv, rule=data["rule"], acting_user=request.user, version=data["version"]
        )
        return _("Hidden under the house rule “%(rule)s”.") % {"rule": data["rule"]}

    return _run_action(request, pk, forms.HideForm, act, removed=_left_shared_queue)


@require_POST
@coordinator_required
def unhide(request: AuthedRequest, pk: int):
    def act(conv, data):
        triage.unhide_conversation(
            conversation=conv, acting_user=request.user, version=data["version"]
        )
        return _("Visible again.")

    return _run_action(request, pk, forms.VersionedForm, act, removed=_left_shared_queue)


@require_POST
@coordinator_required
def flag(request: AuthedRequest, pk: int):
    def act(conv, data):
        triage.flag_conversation(
            conversation=conv,
            flag=Flag(data["flag"]),
            acting_user=request.user,
            version=data["version"],
            on=data["on"],
        )
        label = Flag.labels()[Flag(data["flag"])]
        return (_("Flagged: %(flag)s.") if data["on"] else _("Flag cleared: %(flag)s.")) % {
            "flag": label
        }

    return _run_action(request, pk, forms.FlagForm, act, removed=_left_shared_queue)


@require_POST
@any_user_required
def conversation_labels(request: AuthedRequest, pk: int):
    """Set a conversation's labels to the ticked boxes: coordinators, and staff of its team.

    From the panel (htmx) the panel and the inbox row are re-rendered; a plain POST (the team
    page, or no JavaScript) goes back to `next` or the conversation page."""
    conv = _get_conversation(request, pk)
    # Permission before input validation: an outsider learns nothing from error messages.
    if not team_selectors.may_act_on(request.user, conv):
        raise PermissionDenied
    have = frozenset(conv.labels.values_list("pk", flat=True))
    form = forms.ConversationLabelsForm(request.POST, current=have)

    def back(message: str, *, ok: bool):
        target = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
            target = conv.get_absolute_url()
        (flash.success if ok else flash.error)(request, message)
        return redirect(target)

    def act(data):
        chosen = list(data["labels"])
        labels_service.set_labels(
            conversation=conv,
            add=[label for label in chosen if label.pk not in have],
            remove=list(Label.objects.filter(pk__in=have - {label.pk for label in chosen})),
            acting_user=request.user,
            version=data["version"],
        )
        return _("Labels saved.")

    def done(message: str):
        if request.htmx:
            return _action_response(request, conv, message, removed=False)
        return back(message, ok=True)

    def refused(message: str, status: int):
        if request.htmx:
            return _error_response(request, conv, message, status)
        return back(message, ok=False)

    return run_action(form, act, done=done, refused=refused)


@require_POST
@coordinator_required
def priority(request: AuthedRequest, pk: int):
    def act(conv, data):
        triage.set_priority(
            conversation=conv,
            priority=data["priority"],
            acting_user=request.user,
            version=data["version"],
        )
        return _("Priority changed.")

    return _run_action(request, pk, forms.PriorityForm, act, removed=_left_shared_queue)


@require_POST
@coordinator_required
def merge(request: AuthedRequest, pk: int):
    def act(conv, data):
        target = _get_conversation(request, data["other"])
        triage.merge_conversations(
            target=target,
            source=conv,
            acting_user=request.user,
            target_version=data.get("other_version") or target.version,
            source_version=data["version"],
        )
        return _("Merged into #%(pk)s.") % {"pk": target.pk}

    return _run_action(request, pk, forms.MergeForm, act, removed=lambda c: True)


@require_POST
@coordinator_required
def split(request: AuthedRequest, pk: int):
    def form_kwargs(conv):
        return {"message_choices": [(m, m) for m in conv.messages.values_list("id", flat=True)]}

    def act(conv, data):
        new = triage.split_conversation(
            conversation=conv,
            message_ids=data["messages"],
            acting_user=request.user,
            version=data["version"],
        )
        return _("Split off as #%(pk)s.") % {"pk": new.pk}

    return _run_action(
        request, pk, forms.SplitForm, act, removed=_left_shared_queue, form_kwargs=form_kwargs
    )


@require_POST
@coordinator_required
def bulk(request: AuthedRequest):
    form = forms.BulkForm(request.POST)
    items = form.items(request.POST.getlist("selected"))
    if not items:
        message = _("Select conversations and choose the action's value.")
        return _error_response(request, None, message, 400)

    def act(data):
        return triage.bulk_triage(
            action=data["action"],
            items=items,
            acting_user=request.user,
            department=data["department"],
            assignee=data["assignee"],
            reason=data["reason"],
            rule=data["rule"],
            flag=data["flag"],
            priority=data["priority"],
            label=data["label"],
        )

    def done(result):
        message = ngettext(
            "%(n)s conversation done.", "%(n)s conversations done.", len(result.done)
        ) % {"n": len(result.done)}
        if result.skipped:
            message += " " + ngettext(
                "%(n)s skipped: someone changed it in the meantime.",
                "%(n)s skipped: someone changed them in the meantime.",
                len(result.skipped),
            ) % {"n": len(result.skipped)}
        if request.htmx:
            rows = list(
                Conversation.objects.filter(pk__in=result.done).select_related(
                    "channel", "contact", "department", "assignee"
                )
            )
            # A row that left the shared queue is dropped from the list; the others re-rendered.
            removed = [c.pk for c in rows if c.department_id or not c.is_open]
            kept = [c for c in rows if c.pk not in removed]
            context = {"message": message, "removed": removed, **_row_context(request, kept)}
            return render(request, "inbox/bulk_result.html", context)
        flash.success(request, message)
        return redirect(reverse("inbox:inbox") + "?" + form.cleaned_data["filter_query"])

    return run_action(
        form,
        act,
        done=done,
        refused=lambda message, status: _error_response(request, None, message, status),
    )


@require_POST
@any_user_required
def contact_note(request: AuthedRequest, pk: int, conversation_pk: int):
    conv = _get_conversation(request, conversation_pk)
    contact = get_object_or_404(Contact, pk=pk)
    if conv.contact_id != contact.pk:
        raise PermissionDenied
    form = forms.ContactNoteForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest(_("A note needs text."))
    triage.add_contact_note(contact=contact, author=request.user, text=form.cleaned_data["text"])
    if request.htmx:
        return render(request, "inbox/conversation_panel.html", _panel_context(request, conv))
    return redirect(conv.get_absolute_url())


# --- Evidence and public pages --------------------------------------------------------------


def _evidence_rows(conv: Conversation) -> list[dict]:
    events = (
        selectors.threat_evidence_events(conv).select_related("actor").order_by("created_at", "id")
    )
    rows = []
    for event in events:
        evidence = event.data.get("evidence") or {}
        for m in evidence.get("messages", []):
            rows.append(
                {
                    "conversation": conv.pk,
                    "flagged_at": event.created_at.isoformat(),
                    "flagged_by": str(event.actor or ""),
                    "captured_at": evidence.get("captured_at", ""),
                    **m,
                }
            )
    return rows


EVIDENCE_COLUMNS = [
    "conversation",
    "flagged_at",
    "flagged_by",
    "captured_at",
    "created_at",
    "ingested_at",
    "author_handle",
    "author_name",
    "author_profile_url",
    "url",
    "external_id",
    "direction",
    "text",
]


@require_GET
@coordinator_required
def evidence(request: AuthedRequest, pk: int):
    """The threat evidence as a printable page, or as CSV (?format=csv) for a police report."""
    conv = _get_conversation(request, pk)
    rows = _evidence_rows(conv)
    if not rows:
        raise Http404(_("No threat evidence recorded for this conversation."))
    if request.GET.get("format") == "csv":
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="evidence-conversation-{conv.pk}.csv"'
        )
        response.write("\ufeff")  # so spreadsheet programs read the UTF-8 correctly
        writer = csv.DictWriter(response, fieldnames=EVIDENCE_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            # Neutralise spreadsheet formulas in user-written text (CSV injection).
            writer.writerow({k: safe_cell(v) for k, v in row.items()})
        return response
    return render(request, "inbox/evidence.html", {"conversation": conv, "rows": rows})


@require_GET
@public_endpoint
def house_rules(request):
    return render(
        request, "inbox/house_rules.html", {"rules": HouseRule.objects.filter(active=True)}
    )
