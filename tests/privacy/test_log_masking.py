"""No personal data in logs: handles, e-mail addresses, phone numbers and texts are masked."""

import io
import json
import logging

import pytest

from webcare.logs import ContextFilter, JsonFormatter, PersonalDataFilter, request_id_var

TEXT = "Beste @woonstad, mijn cv-ketel lekt al drie dagen en niemand komt. Bel 06-12345678!!"


def _emit(msg, *args, exc=None, **extra):
    record = logging.LogRecord("inbox.test", logging.WARNING, __file__, 1, msg, args, exc)
    for key, value in extra.items():
        setattr(record, key, value)
    ContextFilter().filter(record)
    PersonalDataFilter().filter(record)
    return json.loads(JsonFormatter().format(record))


@pytest.mark.parametrize(
    "secret",
    [
        "jan.devries@example.nl",
        "@jan_devries",
        "@jan@mastodon.social",
        "+31 6 1234 5678",
        "06-12345678",
    ],
)
def test_it_masks_identifiers_in_messages_and_args(secret):
    assert secret not in _emit(f"Reply to {secret} failed")["message"]
    assert secret not in _emit("Reply to %s failed", secret)["message"]
    assert secret not in _emit("Reply to %(who)s failed", {"who": secret})["message"]


def test_it_masks_message_text_passed_as_an_argument():
    entry = _emit("Skipping message %s: %s", "msg-123", TEXT)
    assert "cv-ketel" not in entry["message"]
    assert "msg-123" in entry["message"]  # ids stay: they are what an operator needs


def test_it_masks_personal_extras_and_exception_texts():
    try:
        raise ValueError("bad author jan.devries@example.nl")
    except ValueError:
        import sys

        entry = _emit("failed", exc=sys.exc_info(), text=TEXT, author_handle="@jan")
    assert "jan.devries@example.nl" not in entry["exc"]
    assert "ValueError" in entry["exc"]


def test_ids_timestamps_and_numbers_survive():
    entry = _emit("Channel %s polled at 2026-11-22 21:45:43, 1234 new in %s ms", 7, 12.5)
    assert entry["message"] == "Channel 7 polled at 2026-11-22 21:45:43, 1234 new in 12.5 ms"


def test_the_request_id_is_on_the_line():
    token = request_id_var.set("req-abc-12345")
    try:
        assert _emit("hello")["request_id"] == "req-abc-12345"
    finally:
        request_id_var.reset(token)


def test_what_the_configured_console_handler_writes_is_masked():
    """A line logged as the app logs it, read from the handler settings.LOGGING installed."""
    (console,) = [h for h in logging.getLogger().handlers if h.name == "console"]
    written = io.StringIO()
    previous = console.setStream(written)
    try:
        logging.getLogger("inbox.services.outbox").warning(
            "Reply to %s failed: %s", "jan.devries@example.nl", TEXT
        )
    finally:
        console.setStream(previous)
    assert "Reply to" in written.getvalue()
    assert "jan.devries@example.nl" not in written.getvalue()
    assert "cv-ketel" not in written.getvalue()


@pytest.mark.parametrize(
    "call",
    [
        # What the connectors log for a payload they skip (x.py, mastodon.py, bluesky.py):
        # short enough to pass the long-text rule, with a name in it.
        ("X: tweet without id or author skipped: %r", {"text": "Jan de Vries boos", "id": ""}),
        ("Mastodon: skipping malformed status %r", {"account": {"display_name": "Jan de Vries"}}),
        ("Bluesky: skipping malformed item %r", ["Jan de Vries", "x"]),
    ],
)
def test_payloads_passed_as_arguments_are_logged_by_shape_only(call):
    msg, payload = call
    entry = _emit(msg, payload)
    assert "Jan de Vries" not in entry["message"]
    if isinstance(payload, dict):
        assert ", ".join(sorted(payload)) in entry["message"]  # the keys stay: they are the shape


def test_connector_skip_log_lines_go_through_the_masking(caplog):
    """The real call site: X's parser logs a tweet without id or author."""
    from inbox.channels import x

    logger = logging.getLogger(x.__name__)
    record_filter = PersonalDataFilter()
    logger.addFilter(record_filter)
    try:
        with caplog.at_level(logging.WARNING, logger=x.__name__):
            logger.warning("X: tweet without id or author skipped: %r", {"text": "Jan de Vries"})
    finally:
        logger.removeFilter(record_filter)
    assert "Jan de Vries" not in caplog.text and "text" in caplog.text
