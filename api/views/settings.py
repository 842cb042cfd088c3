"""Settings → API tokens (HTML): list, create (the token shown once), revoke.

Every change goes through api.tokens. A new token is rendered in the answer to the POST that
made it and never again: only its digest is stored, and the page after it is a fresh list.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from api import tokens
from api.forms import PersonalTokenForm, ServiceTokenForm
from api.models import ApiToken, TokenKind
from inbox.services.refusals import ActionRefused
from webcare.http import AuthedRequest
from webcare.permissions import admin_required, any_user_required


def _listed(qs):
    return qs.select_related("user", "created_by", "revoked_by").prefetch_related("teams")


@require_http_methods(["GET"])
@any_user_required
def token_list(request: AuthedRequest):
    personal = _listed(ApiToken.objects.filter(kind=TokenKind.PERSONAL, user=request.user))
    service = (
        _listed(ApiToken.objects.filter(kind=TokenKind.SERVICE))
        if request.user.is_admin_role
        else None
    )
    return render(request, "api/tokens.html", {"personal": personal, "service": service})


@require_http_methods(["GET", "POST"])
@any_user_required
def token_create(request: AuthedRequest):
    form = PersonalTokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = tokens.create_personal_token(
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                teams=form.cleaned_data["teams"],
                expires_at=form.expires_at(),
            )
        except ActionRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            return _shown_once(request, token, raw)
    return render(request, "api/token_form.html", {"form": form, "service": False})


@require_http_methods(["GET", "POST"])
@admin_required
def service_token_create(request: AuthedRequest):
    form = ServiceTokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            token, raw = tokens.create_service_token(
                acting_user=request.user,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                scope=form.cleaned_data["scope"],
                teams=form.cleaned_data["teams"],
                expires_at=form.expires_at(),
                rate_per_minute=form.cleaned_data["rate_per_minute"],
            )
        except ActionRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            return _shown_once(request, token, raw)
    return render(request, "api/token_form.html", {"form": form, "service": True})


def _shown_once(request: AuthedRequest, token: ApiToken, raw: str):
    response = render(request, "api/token_created.html", {"token": token, "raw": raw})
    # The token is in this page only: no cache, no back-button copy.
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@any_user_required
def token_revoke(request: AuthedRequest, pk: int):
    """GET asks to confirm; POST revokes. Your own tokens, or any token for an administrator."""
    token = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
    if request.user.pk not in (token.user_id, token.created_by_id) and not (
        request.user.is_admin_role
    ):
        raise PermissionDenied
    if request.method == "POST":
        try:
            tokens.revoke_token(token=token, acting_user=request.user)
        except ActionRefused as refusal:
            return render(request, "api/token_revoke.html", {"token": token, "error": str(refusal)})
        return redirect("tokens:list")
    return render(request, "api/token_revoke.html", {"token": token})
