"""Reading a mail: headers, threading ids, author, time and body text from the stdlib ``email``
package. Real mail is messy (unknown charsets, 8-bit bytes in headers, bad base64, HTML-only
bodies), so every step falls back to a lenient decode with replacement characters instead of
raising: one bad mail must never stop a mailbox from being read."""

from __future__ import annotations

import base64
import email
import email.header
import email.policy
import email.utils
import hashlib
import html
import logging
import re
from datetime import UTC, datetime
from email import errors
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from typing import Any

from django.utils import timezone

from inbox.channels.base import (
    IncomingMessage,
)

log = logging.getLogger(__name__)

# A mail body beyond this is cut: nobody reads 10 MB of text in an inbox, and the full
# mail stays on the IMAP server.
MAX_TEXT_CHARS = 50_000
# Message.external_id is a CharField(255); longer ids are replaced by a hash.
MAX_ID_CHARS = 255

_MSGID_RE = re.compile(r"<[^<>\s]+>")


# --------------------------------------------------------------------------- text helpers


def _clean(value: str) -> str:
    """Make a string safe to store: no lone surrogates (from 8-bit header bytes), no NULs."""
    if not value:
        return ""
    if _has_surrogates(value):
        # Raw 8-bit bytes in a header (no RFC 2047 encoding): UTF-8 if they are valid UTF-8,
        # else the Western code page most such mail really uses.
        data = value.encode("utf-8", "surrogateescape")
        try:
            value = data.decode("utf-8")
        except UnicodeDecodeError:
            value = data.decode("windows-1252", "replace")
    value = value.encode("utf-8", "replace").decode("utf-8")  # any other lone surrogate
    return value.replace("\x00", "")


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode a body with its declared charset; unknown or wrong charsets never raise."""
    charset = (charset or "").strip().strip('"').lower()
    if charset in ("", "us-ascii", "ascii"):
        # Undeclared or "ascii" bodies with 8-bit bytes are nearly always UTF-8 in practice.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("windows-1252", "replace")
    try:
        return data.decode(charset, "replace")
    except LookupError:
        # An unknown charset name: try UTF-8 strictly, then a Western single-byte code page,
        # which maps (almost) every byte and is the usual truth behind a mislabelled mail.
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("windows-1252", "replace")


class _HTMLText(HTMLParser):
    """HTML to readable plain text: block elements become line breaks; script, style and
    head content is dropped; entities are unescaped (convert_charrefs)."""

    _BLOCK = {
        "p",
        "div",
        "br",
        "li",
        "tr",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "table",
        "ul",
        "ol",
        "hr",
        "section",
        "article",
    }
    _SKIP = {"script", "style", "head", "title", "template", "noscript"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _HTMLText()
    try:
        parser.feed(markup)
        parser.close()
    except Exception:  # HTMLParser is lenient, but never let a body break the poll
        log.warning("HTML body could not be parsed; falling back to tag stripping")
        return _normalise_ws(html.unescape(re.sub(r"<[^>]*>", " ", markup)))
    return _normalise_ws("".join(parser.parts))


def _normalise_ws(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\xa0", " ")
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --------------------------------------------------------------------------- parsing


def _raw_8bit_header(msg: Message, name: str) -> str | None:
    """The header's raw value when it carries unencoded 8-bit bytes, else None."""
    for key, raw in msg.raw_items():
        if key.lower() == name.lower() and isinstance(raw, str) and _has_surrogates(raw):
            return raw
    return None


def _has_surrogates(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _header(msg: Message, name: str) -> str:
    """A header as text. The modern parser turns raw 8-bit bytes into U+FFFD and may choke
    on odd values; both cases fall back to the raw value, decoded leniently."""
    raw = _raw_8bit_header(msg, name)
    if raw is not None:
        return " ".join(_clean(raw).split())
    try:
        value = msg.get(name)
        return _clean(str(value)) if value is not None else ""
    except Exception:
        for key, raw_value in msg.raw_items():
            if key.lower() == name.lower():
                decoded = email.header.make_header(email.header.decode_header(str(raw_value)))
                return _clean(str(decoded))
        return ""


def _msgids(value: str) -> list[str]:
    """Message-IDs in a header value, in order (<a@b> tokens; a bare id is kept as is)."""
    found = _MSGID_RE.findall(value or "")
    if not found and value and value.strip() and " " not in value.strip():
        found = [f"<{value.strip().strip('<>')}>"]
    return [_fit_id(i) for i in found]


def _fit_id(value: str) -> str:
    if len(value) <= MAX_ID_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def _author(msg: Message, name: str) -> tuple[str, str]:
    """(display name, address) of an address header (From, Reply-To)."""
    try:
        header = None if _raw_8bit_header(msg, name) is not None else msg.get(name)
        addresses = getattr(header, "addresses", ()) if header is not None else ()
        if addresses:
            return _clean(addresses[0].display_name), _clean(addresses[0].addr_spec)
    except Exception:
        pass
    display, addr = email.utils.parseaddr(_header(msg, name))
    return _clean(display), _clean(addr)


def _created_at(msg: Message, internaldate: datetime | None) -> datetime:
    try:
        value = msg.get("Date")
        parsed = getattr(value, "datetime", None) if value is not None else None
    except Exception:
        parsed = None
    if parsed is None:
        parsed = internaldate or timezone.now()
    if timezone.is_naive(parsed):  # "-0000" means: zone unknown; treat as UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _lenient_b64decode(part: Message) -> bytes | None:
    """Base64 that survives junk: characters outside the alphabet are dropped and a
    dangling tail ignored (the stdlib would hand back the undecoded text instead)."""
    data = part.get_payload()
    if isinstance(data, str):
        encoded = data.encode("ascii", "ignore")
    elif isinstance(data, bytes):
        encoded = data
    else:  # a multipart's list of parts
        return None
    clean = re.sub(rb"[^A-Za-z0-9+/]", b"", encoded)
    if len(clean) != len(re.sub(rb"[\s=]", b"", encoded)) or len(clean) % 4 == 1:
        part.defects.append(errors.InvalidBase64CharactersDefect())
    clean = clean[: len(clean) - len(clean) % 4]
    return base64.b64decode(clean)


def _part_text(part: Message) -> str:
    payload: bytes | None
    try:
        if part.get("Content-Transfer-Encoding", "").strip().lower() == "base64":
            payload = _lenient_b64decode(part)
        else:
            decoded = part.get_payload(decode=True)  # bytes, or None for a multipart
            payload = decoded if isinstance(decoded, bytes) else None
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    text = _decode_bytes(payload, part.get_content_charset())
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    return _normalise_ws(text)


def _body_part(msg: EmailMessage) -> Message | None:
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except Exception:
        part = None
    if part is not None:
        return part
    # No body in the RFC sense (for instance only attachments): take the first inline text.
    for candidate in msg.walk():
        if candidate.get_content_maintype() == "text" and not candidate.get_filename():
            return candidate
    return None


def _attachments(msg: EmailMessage) -> list[str]:
    names = []
    for part in msg.walk():
        try:
            filename = part.get_filename()
        except Exception:
            filename = None
        if filename:
            names.append(_clean(filename))
    return names


def parse_message(
    raw: bytes,
    *,
    own_handles: tuple[str, ...] = (),
    internaldate: datetime | None = None,
    extra_raw: dict[str, Any] | None = None,
) -> IncomingMessage:
    """One RFC 822 mail as an IncomingMessage. Never raises on malformed input."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)

    ids = _msgids(_header(msg, "Message-ID"))
    in_reply_to = _msgids(_header(msg, "In-Reply-To"))
    references = _msgids(_header(msg, "References"))
    from_name, from_address = _author(msg, "From")
    # Web forms and no-reply senders put the customer in Reply-To: that is who we answer.
    name, address = _author(msg, "Reply-To") if _header(msg, "Reply-To") else ("", "")
    if not address:
        name, address = from_name, from_address
    subject = _header(msg, "Subject")
    date_header = _header(msg, "Date")

    if ids:
        external_id = ids[0]
    else:
        # No Message-ID (some web forms and scripts): the same mail fetched twice must still
        # map to the same id, so hash the headers that identify it.
        basis = "\n".join(
            [_header(msg, h) for h in ("From", "To", "Cc", "Date", "Subject", "In-Reply-To")]
        )
        external_id = "sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()

    parent = in_reply_to[0] if in_reply_to else (references[-1] if references else "")
    # The root of the thread is the first reference. A client that only sends In-Reply-To
    # (older Outlook) gives us the parent as the best guess of the root.
    conversation = references[0] if references else (parent or external_id)

    part = _body_part(msg)
    text = _part_text(part) if part is not None else ""
    truncated = len(text) > MAX_TEXT_CHARS
    if truncated:
        text = text[:MAX_TEXT_CHARS]
    text = _clean(text)

    address_key = address.lower()
    # Our own mail is recognised by From: an own_handles entry is an address or "@domain".
    own = {h.strip().lower() for h in own_handles if h.strip()}
    from_key = from_address.lower()

    def _is_ours(key: str) -> bool:
        return bool(key) and (key in own or f"@{key.rpartition('@')[2]}" in own)

    # A web form sends from our domain on behalf of the customer in Reply-To: not ours.
    is_own = _is_ours(from_key) and (address_key == from_key or _is_ours(address_key))

    raw_info: dict[str, Any] = {
        "message_id": external_id,
        "subject": subject,
        "from": _header(msg, "From"),
        "to": _header(msg, "To"),
        "cc": _header(msg, "Cc"),
        "reply_to": _header(msg, "Reply-To"),
        "date": date_header,
        "in_reply_to": in_reply_to,
        "references": references,
        "content_type": _clean(msg.get_content_type()),
        "body_type": part.get_content_type() if part is not None else "",
        "auto_submitted": _header(msg, "Auto-Submitted"),
        "attachments": _attachments(msg),
        "size": len(raw),
        "truncated": truncated,
        "defects": sorted({type(d).__name__ for p in msg.walk() for d in p.defects}),
    }
    raw_info.update(extra_raw or {})
    return IncomingMessage(
        external_id=external_id,
        text=text,
        created_at=_created_at(msg, internaldate),
        author_id=address_key or name,
        author_handle=address,
        author_name=name,
        parent_external_id=parent,
        conversation_external_id=conversation,
        is_public=False,
        is_own=is_own,
        raw=raw_info,
    )
