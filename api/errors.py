"""One error format for the API: DRF's {"detail": …}, for the services' refusals too."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from inbox.services.refusals import ActionRefused


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """ActionRefused answers 400 for a broken rule and 409 for a colleague's change in the
    meantime; Django's PermissionDenied and Http404 answer as DRF's own 403 and 404."""
    if isinstance(exc, ActionRefused):
        return Response({"detail": str(exc)}, status=exc.status)
    if isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    return drf_exception_handler(exc, context)
