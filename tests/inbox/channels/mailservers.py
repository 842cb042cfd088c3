"""Real mail servers for the e-mail connector tests, on loopback, started by the tests.

- dovecot (Debian's dovecot-imapd) in a private temp dir with a static password: any
  user name logs in with "secret", so each test gets a fresh mailbox by using its own user.
- aiosmtpd in-process: a real SMTP server that keeps what it receives.

A pytest plugin (tests/conftest.py names it): its fixtures start a server only for a test that asks.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

__all__ = ["dovecot_server", "smtp_server", "smtp_sink"]

IMAP_PASSWORD = "secret"
SMTP_USER = "smtp-user"
SMTP_PASSWORD = "smtp-secret"

DOVECOT_CONF = """\
protocols = imap
listen = 127.0.0.1
base_dir = {dir}/run
state_dir = {dir}/state
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = {first_uid}
mail_location = maildir:{dir}/mail/%u
{users}
passdb {{
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
service imap-login {{
  # no chroot: the test runs dovecot from a temp dir, also without root
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
}}
service anvil {{
  chroot =
  # No auth penalty: the tests log in with wrong passwords on purpose, and anvil would
  # then delay every later login from 127.0.0.1 by seconds (the documented way to disable).
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
log_path = {dir}/dovecot.log
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, *, timeout: float, proc_log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)  # waiting for a server process to listen, not for test logic
    log = proc_log.read_text() if proc_log.exists() else "(no log)"
    raise RuntimeError(f"dovecot did not listen on {port} within {timeout}s:\n{log}")


@dataclass
class Dovecot:
    host: str
    port: int
    conf: Path

    def new_user(self) -> str:
        return f"u{uuid.uuid4().hex[:12]}"


def _dovecot_binary() -> str | None:
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


@pytest.fixture(scope="session")
def dovecot_server():
    binary = _dovecot_binary()
    if binary is None:
        pytest.skip("dovecot binary not found: apt-get install dovecot-imapd (CI installs it)")
    workdir = Path(tempfile.mkdtemp(prefix="dcv-"))  # short: unix socket paths are limited
    workdir.chmod(0o755)
    (workdir / "mail").mkdir()
    (workdir / "state").mkdir()
    port = free_port()
    if os.geteuid() == 0:
        # dovecot refuses to run mail processes as root: store mail as the dovecot user.
        user = pwd.getpwnam("dovecot")
        os.chown(workdir / "mail", user.pw_uid, user.pw_gid)
        uid, gid, users, first_uid = "dovecot", "dovecot", "", 100
    else:
        me = pwd.getpwuid(os.getuid()).pw_name
        uid, gid, first_uid = str(os.getuid()), str(os.getgid()), min(100, os.getuid())
        users = f"default_login_user = {me}\ndefault_internal_user = {me}\n"
    conf = workdir / "dovecot.conf"
    conf.write_text(
        DOVECOT_CONF.format(
            dir=workdir,
            port=port,
            uid=uid,
            gid=gid,
            users=users,
            first_uid=first_uid,
            password=IMAP_PASSWORD,
        )
    )
    # dovecot daemonizes; its children inherit our stdio, so capture to a file, not a pipe
    # (a pipe would never reach EOF while dovecot runs).
    start_log = workdir / "start.log"
    with start_log.open("wb") as out:
        result = subprocess.run(
            [binary, "-c", str(conf)], stdout=out, stderr=out, stdin=subprocess.DEVNULL, check=False
        )
    if result.returncode != 0:
        message = start_log.read_text(errors="replace")
        shutil.rmtree(workdir, ignore_errors=True)
        raise RuntimeError(f"dovecot failed to start: {message}")
    try:
        _wait_for_port(port, timeout=15, proc_log=workdir / "dovecot.log")
        yield Dovecot(host="127.0.0.1", port=port, conf=conf)
    finally:
        subprocess.run(
            [binary, "-c", str(conf), "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class SmtpSink:
    host: str
    port: int
    received: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(
            envelope.original_content or envelope.content, policy=policy.default
        )
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"


@pytest.fixture(scope="session")
def smtp_server():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    sink = SmtpSink(host="127.0.0.1", port=free_port())

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == SMTP_USER
            and auth_data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            sink.logins.append(SMTP_USER)
        # handled=False: let aiosmtpd answer 535 itself on failure (else it stays silent).
        return AuthResult(success=ok, handled=False)

    controller = Controller(
        sink,
        hostname=sink.host,
        port=sink.port,
        authenticator=authenticator,
        auth_require_tls=False,  # loopback test server without a certificate
    )
    controller.start()
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def smtp_sink(smtp_server):
    smtp_server.received.clear()
    smtp_server.logins.clear()
    return smtp_server
