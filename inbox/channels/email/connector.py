"""E-mail: IMAP in (UID cursor), SMTP out, threads by Message-ID, In-Reply-To and References.

Settings (ChannelConfig.settings): host, port, ssl (IMAPS, default True), mailbox ("INBOX"),
sent_mailbox ("Sent"), batch_size (UIDs per FETCH), max_per_fetch (messages per poll),
timeout (seconds), smtp_host, smtp_port, smtp_ssl, starttls (default True), from_address,
append_sent (default True: store what we send in the Sent folder; switch it off for a
provider that files sent mail itself, like Gmail).
Credentials: username, password (and optionally smtp_username, smtp_password).

Parsing lives in inbox/channels/email/parsing.py.
"""

from __future__ import annotations

import contextlib
import email
import email.header
import email.policy
import email.utils
import hashlib
import imaplib
import logging
import re
import smtplib
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
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
from inbox.channels.email.parsing import parse_message

log = logging.getLogger(__name__)

_FETCH_UID_RE = re.compile(rb"UID (\d+)")
_REPLY_PREFIX_RE = re.compile(r"^\s*(re|antw|aw|sv|ref)\s*:", re.IGNORECASE)


def _internaldate(meta: bytes) -> datetime | None:
    """The server's receive time of a FETCH response (imaplib's own helper returns local
    time as a struct, losing the zone)."""
    # InternalDate and Mon2num are module globals of imaplib that typeshed does not declare.
    match = imaplib.InternalDate.search(meta)  # type: ignore[attr-defined]
    if not match:
        return None
    try:
        month = imaplib.Mon2num[match.group("mon")]  # type: ignore[attr-defined]
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
