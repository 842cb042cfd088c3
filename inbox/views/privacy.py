"""Subject access and erasure requests (AVG/GDPR), for admins: find a contact, export, erase."""

from __future__ import annotations

import json

from django.contrib import messages
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from inbox.forms import EraseForm
from inbox.models import Contact
from inbox.services.privacy import erase_contact, export_contact_data
from webcare.http import AuthedRequest
from webcare.permissions import admin_required

SEARCH_LIMIT = 50


@require_GET
@admin_required
def privacy_contacts(request: AuthedRequest):
    query = (request.GET.get("q") or "").strip()[:255]
    contacts = []
    if query:
        wanted = query.lstrip("@")
        # Exact matches only (handle, platform id, name): a request names one person.
        contacts = list(
            Contact.objects.filter(
                Q(handle__iexact=wanted) | Q(external_id=query) | Q(name__iexact=query)
            )
            .select_related("channel")
            .order_by("-id")[:SEARCH_LIMIT]
        )
    return render(
        request,
        "privacy/contacts.html",
        {"query": query, "contacts": contacts, "active": "privacy"},
    )


@require_GET
@admin_required
def privacy_contact(request: AuthedRequest, contact_id: int):
    contact = get_object_or_404(Contact.objects.select_related("channel"), pk=contact_id)
    conversations = contact.conversations.order_by("-received_at", "-id")[:20]
    return render(
        request,
        "privacy/contact.html",
        {"contact": contact, "conversations": conversations, "active": "privacy"},
    )


@require_POST
@admin_required
def privacy_export(request: AuthedRequest, contact_id: int):
    """POST, because an export is recorded in the audit log."""
    contact = get_object_or_404(Contact.objects.select_related("channel"), pk=contact_id)
    data = export_contact_data(contact=contact, acting_user=request.user)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="contact-{contact.pk}.json"'
    return response


@require_POST
@admin_required
def privacy_erase(request: AuthedRequest, contact_id: int):
    contact = get_object_or_404(Contact, pk=contact_id)
    form = EraseForm(request.POST)
    if not form.is_valid():
        # Nothing is erased without the tick: back to the contact's page, which says why.
        messages.error(request, " ".join(str(m) for m in form.errors["confirm"]))
        return redirect("inbox:privacy_contact", contact_id=contact.pk)
    result = erase_contact(contact=contact, acting_user=request.user)
    messages.success(
        request,
        _("Erased: the contact and the texts of %(n)d messages.") % {"n": result["messages"]},
    )
    return redirect("inbox:privacy_contact", contact_id=contact.pk)
