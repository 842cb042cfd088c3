"""What every action view shares: read the form, make the one service call, answer a refusal.

A view gives its bound form, the action (one service call, given the cleaned data) and two ways
to answer: `done` with what the action returned, `refused` with the message and HTTP status of
a no. Bad input, a refusal (ActionRefused, ConflictError), a model rule (ValidationError) and a
late permission check all end in `refused`, so each page says no in one place and one way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.utils.translation import gettext as _

from inbox.services.refusals import ActionRefused


def form_error_message(form: forms.Form) -> str:
    """The form's errors as one line, each after its field's label."""
    errors = "; ".join(
        f"{form.fields[f].label if f in form.fields and form.fields[f].label else ''}: "
        f"{' '.join(str(message) for message in e)}".strip(": ")
        for f, e in form.errors.items()
    )
    return errors or _("Check the form.")


def run_action(
    form: forms.Form,
    act: Callable[[dict[str, Any]], Any],
    *,
    done: Callable[[Any], HttpResponse],
    refused: Callable[[str, int], HttpResponse],
) -> HttpResponse:
    if not form.is_valid():
        return refused(form_error_message(form), 400)
    try:
        result = act(form.cleaned_data)
    except ActionRefused as exc:
        return refused(str(exc), exc.status)
    except ValidationError as exc:
        return refused(" ".join(exc.messages), 400)
    except PermissionDenied as exc:
        return refused(str(exc) or _("Not allowed."), 403)
    return done(result)
