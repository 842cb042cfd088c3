"""Structured logs: request and task ids on every line, personal data masked.

The ids travel in context variables: RequestIdMiddleware sets the request id,
the Celery signals below set the task id (and carry the request id of the
request that enqueued the task in a message header), so one grep follows a
mention from the webhook request through every task it caused.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
task_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("task_id", default="-")
task_name_var: contextvars.ContextVar[str] = contextvars.ContextVar("task_name", default="-")

REQUEST_ID_HEADER = "request_id"  # Celery message header

# --- masking ---------------------------------------------------------------

EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
# @handles as used on X, Mastodon (@user@instance is caught by EMAIL_RE first) and Bluesky.
HANDLE_RE = re.compile(r"(?<![\w@/])@[\w.-]{2,}", re.UNICODE)
# Phone numbers: Dutch (06-12345678, 020 123 4567) and international (+31 6 1234 5678).
PHONE_RE = re.compile(r"(?<![\w:.-])(?:(?:\+|00)\d{1,3}[ -]?\d|0[1-9])(?:[ -]?\d){7,11}(?![\w:.-])")
# Extra attributes that hold personal data by name (logger.info(..., extra={"text": ...})).
PERSONAL_KEYS = frozenset(
    {"text", "handle", "author_handle", "author_name", "email", "body", "snippet"}
)
# A single %s argument this long is message text, not an id or a status: log its length only.
LONG_ARG = 80


def mask(text: str) -> str:
    text = EMAIL_RE.sub("[email]", text)
    text = HANDLE_RE.sub("@[handle]", text)
    return PHONE_RE.sub("[phone]", text)


def _mask_arg(arg: Any) -> Any:
    # A dict or list argument is a payload (a tweet, a status, an item the parser refused):
    # its shape helps the operator, its values are the author's. Short payloads would
    # otherwise slip under LONG_ARG with a name or a text in them.
    if isinstance(arg, Mapping):
        return f"[{type(arg).__name__} with keys: {', '.join(sorted(map(str, arg)))}]"
    if isinstance(arg, list | tuple | set | frozenset):
        return f"[{type(arg).__name__} of {len(arg)}]"
    if isinstance(arg, str):
        if len(arg) > LONG_ARG:
            return f"[text: {len(arg)} chars]"
        return mask(arg)
    if isinstance(arg, int | float | bool) or arg is None:
        return arg
    return _mask_arg(str(arg))


class PersonalDataFilter(logging.Filter):
    """Masks e-mail addresses, handles, phone numbers and message texts in a record.

    Applied on the handler, so it sees records of every logger, ours and the libraries'.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args
            if isinstance(args, dict) and "%(" in str(record.msg):
                record.args = {k: _mask_arg(v) for k, v in args.items()}
            elif isinstance(args, dict):
                # logging unpacks a lone dict argument into args: here it is a payload for %s/%r.
                record.args = (_mask_arg(args),)
            else:
                record.args = tuple(_mask_arg(a) for a in args)
        if isinstance(record.msg, str):
            record.msg = mask(record.msg)
        else:
            record.msg = _mask_arg(record.msg)
        for key in PERSONAL_KEYS & record.__dict__.keys():
            setattr(record, key, "[masked]")
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        return True


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        record.task_id = task_id_var.get()
        record.task_name = task_name_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: what log shippers (Loki, ELK, CloudWatch) read without a parser."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "task_id", "task_name"):
            value = getattr(record, key, "-")
            if value and value != "-":
                entry[key] = value
        for key in ("method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


# --- Celery ------------------------------------------------------------------


def connect_celery_signals() -> None:
    from celery import signals

    @signals.before_task_publish.connect(weak=False)
    def _add_request_id(headers: dict | None = None, **_: Any) -> None:
        if headers is not None and request_id_var.get() != "-":
            headers.setdefault(REQUEST_ID_HEADER, request_id_var.get())

    @signals.task_prerun.connect(weak=False)
    def _task_started(task_id: str = "-", task: Any = None, **_: Any) -> None:
        task_id_var.set(task_id or "-")
        task_name_var.set(getattr(task, "name", "-") or "-")
        request = getattr(task, "request", None)
        # A worker puts custom message headers on the request; an eager apply() keeps them
        # in request.headers.
        incoming = getattr(request, REQUEST_ID_HEADER, None) or (
            getattr(request, "headers", None) or {}
        ).get(REQUEST_ID_HEADER)
        request_id_var.set(incoming or "-")

    @signals.task_postrun.connect(weak=False)
    def _task_finished(**_: Any) -> None:
        task_id_var.set("-")
        task_name_var.set("-")
        request_id_var.set("-")
