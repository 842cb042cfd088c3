"""E-mail: IMAP in (UID cursor), SMTP out, threads by Message-ID, In-Reply-To and References.

Settings (ChannelConfig.settings): host, port, ssl (IMAPS, default True), mailbox ("INBOX"),
sent_mailbox ("Sent"), batch_size (UIDs per FETCH), max_per_fetch (messages per poll),
timeout (seconds), smtp_host, smtp_port, smtp_ssl, starttls (default True), from_address,
append_sent (default True: store what we send in the Sent folder; switch it off for a
provider that files sent mail itself, like Gmail).
Credentials: username, password (and optionally smtp_username, smtp_password).

Mail is parsed with the stdlib ``email`` package. Real mail is messy (unknown charsets,
8-bit bytes in headers, bad base64, HTML-only bodies), so every step falls back to a
lenient decode with replacement characters instead of raising: one bad mail must never
stop a mailbox from being read.
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.header
import email.policy
import email.utils
import hashlib
import html
import imaplib
import logging
import re
import smtplib
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import errors
from email.message import EmailMessage, Message
from html.parser import HTMLParser
from typing import Any

from django.utils import timezone

from inbox.channels.base import (
    AuthFailed,
    ChannelConfig,
    ConnectorError,
    FetchResult,
    IncomingMessage,
    ReplyTarget,
)

log = logging.getLogger(__name__)

# A mail body beyond this is cut: nobody reads 10 MB of text in an inbox, and the full
# mail stays on the IMAP server.
MAX_TEXT_CHARS = 50_000
# Message.external_id is a CharField(255); longer ids are replaced by a hash.
MAX_ID_CHARS = 255

_MSGID_RE = re.compile(r"<[^<>\s]+>")
_FETCH_UID_RE = re.compile(rb"UID (\d+)")
_REPLY_PREFIX_RE = re.compile(r"^\s*(re|antw|aw|sv|ref)\s*:", re.IGNORECASE)


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
        "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "pre", "table", "ul", "ol", "hr", "section", "article",
    }  # fmt: skip
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
    if isinstance(data, list):
        return None
    encoded = data.encode("ascii", "ignore") if isinstance(data, str) else data
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
            payload = part.get_payload(decode=True)
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


# --------------------------------------------------------------------------- connector


def _internaldate(meta: bytes) -> datetime | None:
    """The server's receive time of a FETCH response (imaplib's own helper returns local
    time as a struct, losing the zone)."""
    match = imaplib.InternalDate.search(meta)
    if not match:
        return None
    try:
        month = imaplib.Mon2num[match.group("mon")]
        sign = -1 if match.group("zonen") == b"-" else 1
        offset = timedelta(hours=int(match.group("zoneh")), minutes=int(match.group("zonem")))
        return (
            datetime(
                int(match.group("year")),
                month,
                int(match.group("day")),
                int(match.group("hour")),
                int(match.group("min")),
                int(match.group("sec")),
                tzinfo=UTC,
            )
            - sign * offset
        )
    except (KeyError, ValueError):
        return None


def _imap_quote(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class EmailConnector:
    can_reply = True
    can_reply_privately = True  # every mail is private
    can_hide = False
    max_length: int | None = None

    # ---- IMAP plumbing

    @contextlib.contextmanager
    def _imap(self, channel: ChannelConfig) -> Iterator[imaplib.IMAP4]:
        s = channel.settings
        host = s.get("host", "")
        use_ssl = bool(s.get("ssl", True))
        port = int(s.get("port") or (993 if use_ssl else 143))
        timeout = float(s.get("timeout", 30))
        try:
            if use_ssl:
                conn: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    host, port, ssl_context=ssl.create_default_context(), timeout=timeout
                )
            else:
                conn = imaplib.IMAP4(host, port, timeout=timeout)
        except (OSError, imaplib.IMAP4.error) as exc:  # refused, timeout, TLS, bad greeting
            raise ConnectorError(f"IMAP connection to {host}:{port} failed: {exc}") from exc
        try:
            try:
                conn.login(
                    channel.credentials.get("username", ""), channel.credentials.get("password", "")
                )
            except imaplib.IMAP4.abort as exc:
                raise ConnectorError(f"IMAP connection lost during login: {exc}") from exc
            except imaplib.IMAP4.error as exc:
                message = str(exc)
                if "[UNAVAILABLE]" in message or "[INUSE]" in message:
                    raise ConnectorError(f"IMAP login unavailable: {message}") from exc
                raise AuthFailed(f"IMAP login failed: {message}") from exc
            yield conn
        except imaplib.IMAP4.abort as exc:
            raise ConnectorError(f"IMAP connection lost: {exc}") from exc
        except (TimeoutError, OSError) as exc:
            raise ConnectorError(f"IMAP connection failed: {exc}") from exc
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    @staticmethod
    def _select(conn: imaplib.IMAP4, mailbox: str, *, readonly: bool = True) -> int:
        """Select a mailbox and return its UIDVALIDITY."""
        typ, data = conn.select(_imap_quote(mailbox), readonly=readonly)
        if typ != "OK":
            detail = data[0].decode("utf-8", "replace") if data and data[0] else ""
            raise ConnectorError(
                f"IMAP mailbox {mailbox!r} cannot be opened: {detail}", transient=False
            )
        _, values = conn.response("UIDVALIDITY")
        if not values or values[0] is None:
            raise ConnectorError("IMAP server sent no UIDVALIDITY", transient=False)
        return int(values[0])

    # ---- fetch

    def fetch(self, channel: ChannelConfig, cursor: dict[str, Any]) -> FetchResult:
        """New mail since cursor["last_uid"], oldest first, at most max_per_fetch per poll.

        UIDs only mean something together with UIDVALIDITY: when the server changes it
        (mailbox recreated or restored), every UID is new and we read the mailbox again;
        the unique (channel, external_id) in ingest makes that re-read harmless.
        """
        s = channel.settings
        mailbox = s.get("mailbox", "INBOX")
        batch_size = max(1, int(s.get("batch_size", 50)))
        max_per_fetch = max(1, int(s.get("max_per_fetch", 500)))
        with self._imap(channel) as conn:
            uidvalidity = self._select(conn, mailbox)
            last_uid = int(cursor.get("last_uid", 0) or 0)
            if cursor.get("uidvalidity") != uidvalidity:
                last_uid = 0
            typ, data = conn.uid("SEARCH", f"UID {last_uid + 1}:*")
            if typ != "OK":
                raise ConnectorError(f"IMAP SEARCH failed: {data!r}")
            # "n:*" always matches the highest UID, even when it is below n: filter.
            uids = sorted(int(u) for u in (data[0] or b"").split() if int(u) > last_uid)
            uids = uids[:max_per_fetch]
            messages: list[IncomingMessage] = []
            for batch in _chunks(uids, batch_size):
                messages.extend(self._fetch_batch(conn, channel, batch, uidvalidity))
                last_uid = batch[-1]
        return FetchResult(
            messages=messages, cursor={"uidvalidity": uidvalidity, "last_uid": last_uid}
        )

    def _fetch_batch(
        self, conn: imaplib.IMAP4, channel: ChannelConfig, uids: list[int], uidvalidity: int
    ) -> list[IncomingMessage]:
        # BODY.PEEK leaves the \Seen flag alone: people may also read this mailbox.
        typ, data = conn.uid("FETCH", ",".join(map(str, uids)), "(UID INTERNALDATE BODY.PEEK[])")
        if typ != "OK":
            raise ConnectorError(f"IMAP FETCH failed: {data!r}")
        out = []
        for item in data:
            if not isinstance(item, tuple) or len(item) < 2:
                continue  # the closing b")" of each response
            meta, body = item[0], item[1]
            match = _FETCH_UID_RE.search(meta)
            if not match:
                continue
            uid = int(match.group(1))
            internaldate = _internaldate(meta)
            try:
                out.append(
                    parse_message(
                        body,
                        own_handles=channel.own_handles,
                        internaldate=internaldate,
                        extra_raw={"uid": uid, "uidvalidity": uidvalidity},
                    )
                )
            except Exception:
                # parse_message is built not to raise; if a mail still beats it, skip that one
                # mail loudly rather than block the mailbox behind it forever.
                log.exception("E-mail UID %s on channel %s could not be parsed", uid, channel.id)
        return out

    # ---- replies

    @staticmethod
    def reply_message_id(channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        """The Message-ID our reply gets, known before sending.

        Derived from the conversation, the mail answered, the text and an optional
        idempotency key (target.extra["idempotency_key"], e.g. the outbox reply id), so a
        retry of the same attempt computes the same id and find_existing_reply can look for
        it in the Sent folder without any state.
        """
        basis = "\x1f".join(
            [
                str(channel.id),
                str(target.conversation_id),
                target.in_reply_to_external_id,
                str(target.extra.get("idempotency_key", "")),
                text,
            ]
        )
        digest = hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32]
        domain = EmailConnector._from_address(channel).rpartition("@")[2] or "webcare.invalid"
        return f"<webcare.{digest}@{domain}>"

    @staticmethod
    def _from_address(channel: ChannelConfig) -> str:
        return (
            channel.settings.get("from_address")
            or next((h for h in channel.own_handles if "@" in h.strip("@")), "")
            or channel.credentials.get("username", "")
        )

    def build_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> EmailMessage:
        recipient = target.author_handle or target.author_id
        if not recipient or "@" not in recipient:
            raise ConnectorError(f"No e-mail address to reply to: {recipient!r}", transient=False)
        subject = target.subject.strip()
        if not _REPLY_PREFIX_RE.match(subject):
            subject = f"Re: {subject}".strip()
        references = [str(r) for r in target.extra.get("references", []) if r]
        if not references and target.thread_external_id:
            references = [target.thread_external_id]
        if target.in_reply_to_external_id and target.in_reply_to_external_id not in references:
            references.append(target.in_reply_to_external_id)

        msg = EmailMessage(policy=email.policy.SMTP)
        msg["From"] = self._from_address(channel)
        msg["To"] = recipient
        msg["Subject"] = subject
        msg["Date"] = email.utils.format_datetime(timezone.now())
        msg["Message-ID"] = self.reply_message_id(channel, target, text)
        if target.in_reply_to_external_id:
            msg["In-Reply-To"] = target.in_reply_to_external_id
        if references:
            msg["References"] = " ".join(references)
        msg["Auto-Submitted"] = "no"
        msg.set_content(text)
        return msg

    def send_reply(self, channel: ChannelConfig, target: ReplyTarget, text: str) -> str:
        msg = self.build_reply(channel, target, text)
        message_id = str(msg["Message-ID"])
        self._smtp_send(channel, msg)
        if channel.settings.get("append_sent", True):
            try:
                self._append_sent(channel, msg)
            except ConnectorError:
                # The mail went out: failing now would make the outbox retry and send it twice.
                log.exception("Reply %s sent but not stored in the Sent folder", message_id)
        return message_id

    def _smtp_send(self, channel: ChannelConfig, msg: EmailMessage) -> None:
        s, c = channel.settings, channel.credentials
        host = s.get("smtp_host") or s.get("host", "")
        use_ssl = bool(s.get("smtp_ssl", False))
        port = int(s.get("smtp_port") or (465 if use_ssl else 587))
        timeout = float(s.get("timeout", 30))
        username = c.get("smtp_username") or c.get("username", "")
        password = c.get("smtp_password") or c.get("password", "")
        try:
            if use_ssl:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    host, port, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
            with smtp:
                if not use_ssl and s.get("starttls", True):
                    smtp.starttls(context=ssl.create_default_context())
                if username and s.get("smtp_auth", True):
                    smtp.login(username, password)
                smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise AuthFailed(f"SMTP login failed: {exc}", status_code=exc.smtp_code) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise ConnectorError(f"SMTP refused the recipient: {exc}", transient=False) from exc
        except smtplib.SMTPResponseException as exc:
            # 4xx: try again later; 5xx: a person must look (bad sender, policy, size).
            raise ConnectorError(
                f"SMTP error {exc.smtp_code}: {exc.smtp_error!r}",
                transient=400 <= exc.smtp_code < 500,
                status_code=exc.smtp_code,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:  # refused, timeout, disconnect, TLS
            raise ConnectorError(f"SMTP connection to {host}:{port} failed: {exc}") from exc

    def _append_sent(self, channel: ChannelConfig, msg: EmailMessage) -> None:
        mailbox = channel.settings.get("sent_mailbox", "Sent")
        with self._imap(channel) as conn:
            typ, _ = conn.create(_imap_quote(mailbox))  # NO when it exists: fine
            typ, data = conn.append(
                _imap_quote(mailbox),
                r"(\Seen)",
                imaplib.Time2Internaldate(timezone.now()),
                msg.as_bytes(policy=email.policy.SMTP),
            )
            if typ != "OK":
                raise ConnectorError(f"IMAP APPEND to {mailbox!r} failed: {data!r}")

    def find_existing_reply(
        self, channel: ChannelConfig, target: ReplyTarget, text: str
    ) -> str | None:
        """Our reply's Message-ID if it is in the Sent folder, else None."""
        message_id = self.reply_message_id(channel, target, text)
        mailbox = channel.settings.get("sent_mailbox", "Sent")
        with self._imap(channel) as conn:
            typ, _ = conn.select(_imap_quote(mailbox), readonly=True)
            if typ != "OK":
                return None  # no Sent folder yet: nothing was ever stored there
            typ, data = conn.uid("SEARCH", "HEADER", "Message-ID", _imap_quote(message_id))
            if typ != "OK":
                raise ConnectorError(f"IMAP SEARCH in {mailbox!r} failed: {data!r}")
            return message_id if data and data[0] and data[0].split() else None

    def hide(self, channel: ChannelConfig, external_id: str, hidden: bool) -> None:
        raise ConnectorError("E-mail cannot be hidden on the platform", transient=False)
