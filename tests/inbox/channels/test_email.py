"""EmailConnector against a real dovecot IMAP server and a real aiosmtpd SMTP server.

Fixture mails in tests/fixtures/email/ are realistic customer mails to a Dutch housing
corporation, including the messy kinds (Latin-1, an unknown charset, broken base64, raw
8-bit headers, emoji, Arabic, no Message-ID). They are APPENDed to a fresh mailbox per test
and read back through the connector, so the real IMAP protocol path is exercised.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from inbox.channels.base import AuthFailed, ChannelConfig, ConnectorError, ReplyTarget
from inbox.channels.email import MAX_TEXT_CHARS, EmailConnector, html_to_text
from tests.inbox.channels.mailservers import (
    IMAP_PASSWORD,
    SMTP_PASSWORD,
    SMTP_USER,
    free_port,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "email"
OWN = "klantenservice@woonstad.nl"
ROOT_ID = "<CAF3x9kQ2p1=lekkage.112b@mail.ziggo.nl>"
OUR_REPLY_ID = "<woonstad.reply.77812@woonstad.nl>"


def eml(name: str) -> bytes:
    return next(FIXTURES.glob(f"{name}*.eml")).read_bytes()


def as_crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def append(server, user: str, raw: bytes, *, mailbox: str = "INBOX", when=None) -> None:
    conn = imaplib.IMAP4(server.host, server.port)
    try:
        conn.login(user, IMAP_PASSWORD)
        conn.create(mailbox)
        date = imaplib.Time2Internaldate(when) if when else None
        typ, data = conn.append(mailbox, None, date, as_crlf(raw))
        assert typ == "OK", data
    finally:
        conn.logout()


def config(server, user: str, smtp=None, *, password: str = IMAP_PASSWORD, **settings):
    base = {"host": server.host, "port": server.port, "ssl": False, "timeout": 5}
    credentials = {"username": user, "password": password}
    if smtp is not None:
        base.update(smtp_host=smtp.host, smtp_port=smtp.port, starttls=False)
        credentials.update(smtp_username=SMTP_USER, smtp_password=SMTP_PASSWORD)
    base.update(settings)
    return ChannelConfig(
        id=7,
        kind="email",
        own_handles=(OWN,),
        credentials=credentials,
        settings=base,
    )


@pytest.fixture
def mailbox_user(dovecot_server):
    return dovecot_server.new_user()


@pytest.fixture(scope="module")
def all_fixtures_fetched(dovecot_server):
    """Every fixture mail APPENDed and fetched once; read-only for the tests that use it."""
    mailbox_user = dovecot_server.new_user()
    names = sorted(p.name for p in FIXTURES.glob("*.eml"))
    for name in names:
        append(
            dovecot_server,
            mailbox_user,
            (FIXTURES / name).read_bytes(),
            when=datetime(2025, 3, 15, 9, 30, tzinfo=UTC),
        )
    # Small batches: the connector must page through FETCH in bounded chunks.
    channel = config(dovecot_server, mailbox_user, batch_size=3)
    result = EmailConnector().fetch(channel, {})
    by_file = dict(zip(names, result.messages, strict=True))
    return channel, result, by_file


def test_it_fetches_every_fixture_mail_in_uid_order(all_fixtures_fetched):
    _, result, by_file = all_fixtures_fetched
    assert len(result.messages) == len(by_file) == 12
    assert [m.raw["uid"] for m in result.messages] == list(range(1, 13))
    assert result.cursor["last_uid"] == 12
    assert isinstance(result.cursor["uidvalidity"], int)
    for message in result.messages:
        assert message.is_public is False
        assert message.created_at.tzinfo is not None
        assert message.created_at.utcoffset().total_seconds() == 0
        assert message.text
        assert "\ufffd" not in message.raw["subject"]

    plain = by_file["01-plain-lekkage.eml"]
    assert plain.external_id == ROOT_ID
    assert plain.author_name == "Fatima el Amrani"
    assert plain.author_handle == "fatima.elamrani@ziggo.nl"
    assert plain.author_id == "fatima.elamrani@ziggo.nl"
    assert plain.parent_external_id == ""
    assert plain.conversation_external_id == ROOT_ID
    assert plain.created_at == datetime(2025, 3, 3, 7, 12, 41, tzinfo=UTC)
    assert "Kunnen jullie deze week een monteur sturen?" in plain.text
    assert plain.raw["subject"] == "Lekkage badkamer Mathenesserweg 112B"
    assert plain.is_own is False


def test_it_prefers_text_plain_and_strips_html_only_mail(all_fixtures_fetched):
    _, _, by_file = all_fixtures_fetched
    alternative = by_file["02-alternative-huurverhoging.eml"]
    assert alternative.raw["body_type"] == "text/plain"
    assert "van € 687,40 naar € 741,00" in alternative.text
    assert "<" not in alternative.text

    html_only = by_file["03-html-only-schimmel.eml"]
    assert html_only.raw["body_type"] == "text/html"
    assert "zwarte schimmel op de muur & het plafond." in html_only.text
    assert "Adres: Schiekade 45A" in html_only.text.splitlines()
    for leftover in ("alert", "<", "font-family", "Calibri"):
        assert leftover not in html_only.text


def test_it_decodes_charsets_and_survives_broken_encodings(all_fixtures_fetched):
    _, _, by_file = all_fixtures_fetched
    latin = by_file["05-iso-8859-1-bezichtiging.eml"]
    assert latin.author_name == "Noëlle Brouwer"
    assert latin.raw["subject"] == "Bezichtiging woning Coolsingel één vraag"
    assert "Ik ben zeer geïnteresseerd" in latin.text
    assert "Het café beneden" in latin.text

    unknown_charset = by_file["06-broken-charset-cvketel.eml"]
    assert "12°C in huis" in unknown_charset.text
    assert unknown_charset.text.endswith("Groet, René")
    assert unknown_charset.raw["subject"] == "cv ketel kapot één week al"

    bad_base64 = by_file["07-invalid-base64.eml"]
    assert bad_base64.text.startswith("Hierbij de factuur voor werkbon 2025-0311.")
    assert bad_base64.raw["defects"]

    raw_8bit = by_file["12-raw-8bit-headers.eml"]
    assert raw_8bit.author_name == "Zoë Ökten"
    assert raw_8bit.raw["subject"].endswith("Groetjes Zoë")
    # "Date: not a date at all": the server's INTERNALDATE is the next best truth.
    assert raw_8bit.created_at == datetime(2025, 3, 15, 9, 30, tzinfo=UTC)


def test_it_keeps_emoji_and_right_to_left_text(all_fixtures_fetched):
    _, _, by_file = all_fixtures_fetched
    emoji = by_file["08-emoji-compliment.eml"]
    assert emoji.raw["subject"] == "Bedankt! 🎉 Nieuwe keuken"
    assert "prachtig 😍🏠" in emoji.text
    assert "👷\u200d♀️" in emoji.text  # the zero-width joiner of the emoji sequence survives

    rtl = by_file["09-rtl-lift.eml"]
    assert rtl.author_name == "يوسف حداد"
    assert rtl.text.startswith("مرحبا، المصعد في العمارة معطل منذ أسبوع.")
    assert "Beukelsdijk 80" in rtl.text


def test_it_threads_by_references_and_in_reply_to(all_fixtures_fetched):
    _, _, by_file = all_fixtures_fetched
    ours = by_file["11-own-outgoing.eml"]
    follow_up = by_file["04-reply-lekkage.eml"]
    assert ours.is_own is True
    assert ours.external_id == OUR_REPLY_ID
    assert ours.parent_external_id == ROOT_ID
    assert ours.conversation_external_id == ROOT_ID
    assert follow_up.parent_external_id == OUR_REPLY_ID  # In-Reply-To wins over References
    assert follow_up.conversation_external_id == ROOT_ID  # the first of References
    assert follow_up.is_own is False


def test_mail_without_message_id_gets_a_stable_hash_id(dovecot_server, all_fixtures_fetched):
    channel, _, by_file = all_fixtures_fetched
    form = by_file["10-no-message-id.eml"]
    assert form.external_id.startswith("sha256:")
    assert form.parent_external_id == "<formulier-thread-551@woonstad.nl>"
    # The web form sends from our domain; the customer is in Reply-To and is not "own".
    assert form.author_handle == "ahmet.yilmaz@live.nl"
    assert form.is_own is False
    again = EmailConnector().fetch(channel, {})  # a re-read after a lost cursor
    assert [m.external_id for m in again.messages] == [m.external_id for m in by_file.values()]


def test_cursor_advances_and_a_second_fetch_returns_nothing_new(dovecot_server, mailbox_user):
    connector = EmailConnector()
    channel = config(dovecot_server, mailbox_user)
    append(dovecot_server, mailbox_user, eml("01"))
    first = connector.fetch(channel, {})
    assert [m.external_id for m in first.messages] == [ROOT_ID]

    second = connector.fetch(channel, first.cursor)
    assert second.messages == []
    assert second.cursor == first.cursor

    append(dovecot_server, mailbox_user, eml("04"))
    third = connector.fetch(channel, second.cursor)
    assert [m.external_id for m in third.messages] == ["<CAF3x9kQ7r4=followup.112b@mail.ziggo.nl>"]
    assert third.cursor["last_uid"] == 2


def test_a_poll_takes_at_most_max_per_fetch(dovecot_server, mailbox_user):
    connector = EmailConnector()
    channel = config(dovecot_server, mailbox_user, max_per_fetch=2, batch_size=1)
    for name in ("01", "02", "03", "04", "05"):
        append(dovecot_server, mailbox_user, eml(name))
    sizes, cursor = [], {}
    for _ in range(4):
        result = connector.fetch(channel, cursor)
        sizes.append(len(result.messages))
        cursor = result.cursor
    assert sizes == [2, 2, 1, 0]
    assert cursor["last_uid"] == 5


def test_a_uidvalidity_change_reads_the_mailbox_again(dovecot_server, mailbox_user):
    connector = EmailConnector()
    channel = config(dovecot_server, mailbox_user)
    append(dovecot_server, mailbox_user, eml("01"))
    append(dovecot_server, mailbox_user, eml("02"))
    current = connector.fetch(channel, {}).cursor
    stale = {"uidvalidity": current["uidvalidity"] + 1, "last_uid": 999}
    result = connector.fetch(channel, stale)
    assert len(result.messages) == 2
    assert result.cursor == current


def test_a_huge_body_is_cut_not_fatal(dovecot_server, mailbox_user):
    paragraph = "Dit is de zoveelste klacht over de galerijverlichting aan de Zuidplein 3. " * 20
    body = "\n\n".join([paragraph] * 2_000)  # about 3 MB of text
    raw = (
        "From: Boze Bewoner <bewoner@example.nl>\nTo: klantenservice@woonstad.nl\n"
        "Subject: Lang verhaal\nDate: Mon, 17 Mar 2025 10:00:00 +0100\n"
        "Message-ID: <huge.body@example.nl>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body
    ).encode()
    assert len(raw) > 2_500_000
    append(dovecot_server, mailbox_user, raw)
    append(dovecot_server, mailbox_user, eml("01"))  # the mail behind it still arrives
    result = EmailConnector().fetch(config(dovecot_server, mailbox_user), {})
    huge, plain = result.messages
    assert len(huge.text) == MAX_TEXT_CHARS
    assert huge.raw["truncated"] is True
    assert huge.raw["size"] >= len(raw)
    assert plain.external_id == ROOT_ID


def test_wrong_password_is_auth_failed(dovecot_server, mailbox_user):
    channel = config(dovecot_server, mailbox_user, password="wrong")
    with pytest.raises(AuthFailed) as excinfo:
        EmailConnector().fetch(channel, {})
    assert excinfo.value.transient is False


def test_connection_refused_is_transient(dovecot_server, mailbox_user):
    channel = config(dovecot_server, mailbox_user, port=free_port())
    with pytest.raises(ConnectorError) as excinfo:
        EmailConnector().fetch(channel, {})
    assert not isinstance(excinfo.value, AuthFailed)
    assert excinfo.value.transient is True


def test_a_server_that_never_greets_times_out_as_transient(dovecot_server, mailbox_user):
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts the TCP connection (backlog) but never says "* OK"
        channel = config(dovecot_server, mailbox_user, port=silent.getsockname()[1], timeout=0.3)
        with pytest.raises(ConnectorError) as excinfo:
            EmailConnector().fetch(channel, {})
    assert excinfo.value.transient is True


def test_a_missing_mailbox_needs_a_person(dovecot_server, mailbox_user):
    channel = config(dovecot_server, mailbox_user, mailbox="Bestaat/Niet")
    with pytest.raises(ConnectorError) as excinfo:
        EmailConnector().fetch(channel, {})
    assert excinfo.value.transient is False


# --------------------------------------------------------------------------- replies


def reply_target(**overrides) -> ReplyTarget:
    values = {
        "conversation_id": 41,
        "in_reply_to_external_id": "<CAF3x9kQ7r4=followup.112b@mail.ziggo.nl>",
        "thread_external_id": ROOT_ID,
        "author_id": "fatima.elamrani@ziggo.nl",
        "author_handle": "fatima.elamrani@ziggo.nl",
        "private": True,
        "subject": "Lekkage badkamer Mathenesserweg 112B",
        "extra": {"references": [ROOT_ID, OUR_REPLY_ID]},
    }
    values.update(overrides)
    return ReplyTarget(**values)


def test_send_reply_delivers_with_threading_headers(dovecot_server, mailbox_user, smtp_sink):
    connector = EmailConnector()
    channel = config(dovecot_server, mailbox_user, smtp_sink)
    text = "Beste mevrouw El Amrani,\n\nMorgen om 9:00 komt de loodgieter. 🔧\n\nGroet, Woonstad"
    target = reply_target()
    assert connector.find_existing_reply(channel, target, text) is None  # no Sent folder yet

    external_id = connector.send_reply(channel, target, text)

    assert smtp_sink.logins == [SMTP_USER]
    [(mail_from, rcpt_tos, msg)] = smtp_sink.received
    assert mail_from == OWN
    assert rcpt_tos == ["fatima.elamrani@ziggo.nl"]
    assert msg["Message-ID"] == external_id
    assert external_id.startswith("<webcare.") and external_id.endswith("@woonstad.nl>")
    assert msg["Subject"] == "Re: Lekkage badkamer Mathenesserweg 112B"
    assert msg["In-Reply-To"] == "<CAF3x9kQ7r4=followup.112b@mail.ziggo.nl>"
    assert msg["References"].split() == [
        ROOT_ID,
        OUR_REPLY_ID,
        "<CAF3x9kQ7r4=followup.112b@mail.ziggo.nl>",
    ]
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n").rstrip("\n") == text

    # The same attempt retried finds the sent mail; another text does not.
    assert connector.find_existing_reply(channel, target, text) == external_id
    assert connector.find_existing_reply(channel, target, text + "!") is None
    other_attempt = reply_target(extra={"idempotency_key": "reply-2"})
    assert connector.find_existing_reply(channel, other_attempt, text) is None


def test_our_sent_reply_reads_back_as_own_mail_in_the_thread(
    dovecot_server, mailbox_user, smtp_sink
):
    connector = EmailConnector()
    channel = config(dovecot_server, mailbox_user, smtp_sink)
    external_id = connector.send_reply(channel, reply_target(subject="RE: Lekkage"), "Komt goed.")
    sent = connector.fetch(config(dovecot_server, mailbox_user, mailbox="Sent"), {})
    [message] = sent.messages
    assert message.external_id == external_id
    assert message.is_own is True
    assert message.parent_external_id == "<CAF3x9kQ7r4=followup.112b@mail.ziggo.nl>"
    assert message.conversation_external_id == ROOT_ID
    assert message.raw["subject"] == "RE: Lekkage"  # no "Re: RE:" pile-up
    assert message.text == "Komt goed."


def test_a_reply_without_references_builds_them_from_the_thread(
    dovecot_server, mailbox_user, smtp_sink
):
    channel = config(dovecot_server, mailbox_user, smtp_sink, append_sent=False)
    EmailConnector().send_reply(channel, reply_target(extra={}), "مرحبا، شكرا")
    [(_, _, msg)] = smtp_sink.received
    assert msg["References"].split() == [ROOT_ID, "<CAF3x9kQ7r4=followup.112b@mail.ziggo.nl>"]
    assert msg.get_body(("plain",)).get_content().strip() == "مرحبا، شكرا"


def test_smtp_wrong_password_is_auth_failed_and_nothing_is_stored(
    dovecot_server, mailbox_user, smtp_sink
):
    base = config(dovecot_server, mailbox_user, smtp_sink)
    channel = ChannelConfig(
        id=base.id,
        kind=base.kind,
        own_handles=base.own_handles,
        credentials={**base.credentials, "smtp_password": "wrong"},
        settings=base.settings,
    )
    with pytest.raises(AuthFailed):
        EmailConnector().send_reply(channel, reply_target(), "Hallo")
    assert smtp_sink.received == []
    assert EmailConnector().find_existing_reply(channel, reply_target(), "Hallo") is None


def test_smtp_connection_refused_is_transient(dovecot_server, mailbox_user, smtp_sink):
    channel = config(dovecot_server, mailbox_user, smtp_sink, smtp_port=free_port())
    with pytest.raises(ConnectorError) as excinfo:
        EmailConnector().send_reply(channel, reply_target(), "Hallo")
    assert not isinstance(excinfo.value, AuthFailed)
    assert excinfo.value.transient is True


def test_a_reply_needs_an_address(dovecot_server, mailbox_user, smtp_sink):
    channel = config(dovecot_server, mailbox_user, smtp_sink)
    with pytest.raises(ConnectorError) as excinfo:
        EmailConnector().send_reply(channel, reply_target(author_handle="", author_id="42"), "Hi")
    assert excinfo.value.transient is False
    assert smtp_sink.received == []


# --------------------------------------------------------------------------- pure helpers


def test_html_to_text_keeps_structure_and_drops_code():
    markup = (
        "<p>Beste&nbsp;Woonstad,</p><script>steal()</script><p>Regel&nbsp;1<br>Regel 2</p>"
        "<style>p{}</style><p>&lt;geen tag&gt; &amp; &euro;5</p>"
    )
    assert html_to_text(markup) == "Beste Woonstad,\n\nRegel 1\nRegel 2\n\n<geen tag> & €5"


def test_parsing_never_raises_on_garbage():
    from inbox.channels.email import parse_message

    for raw in (
        b"",
        b"\x00\xff\xfe garbage",
        b"From: <<<>>>\n\n\xff",
        b"Content-Type: multipart/mixed\n\n",
    ):
        message = parse_message(raw)
        assert message.external_id.startswith("sha256:")
        assert "\x00" not in message.text


def test_fixture_mails_have_a_sender():
    for path in FIXTURES.glob("*.eml"):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert msg["From"], path.name
