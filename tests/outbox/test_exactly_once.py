"""Exactly-once posting with a REAL Celery worker process on the Redis broker (not eager).

Each test starts `celery -A tests.outbox.celery_app worker --pool=solo` against the test
database, approves a reply through the service (which queues send_reply_task after
commit) and lets the worker post it to FakeX, a loopback HTTP server speaking the X API
v2. Whatever goes wrong (the worker SIGKILLed right after the platform received the
POST, a client timeout while the platform still posts, a 5xx, the task delivered
several times to two workers) the platform must end up with exactly one post.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from inbox.channels.credentials import encrypt_credentials
from inbox.models import AttemptOutcome, Direction, Message, Reply, ReplyState
from inbox.services import replies as reply_services
from inbox.services.outbox import recover_outbox
from inbox.tasks.outbox import send_reply_task
from routing.models import ReviewPolicy
from tests.conftest import test_database_url
from tests.factories import ConversationFactory, MessageFactory, UserFactory
from tests.outbox.fake_x import FakeX

# A real worker on a Redis broker: the embedded default's filesystem broker has its own test
# (tests/webcare/test_newcomer.py drives a reply to "sent" through it).
pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
OUR_ID = "1420339457118097409"
LEASE_SECONDS = 3


def wait_for(check: Callable[[], bool], *, timeout: float = 45, what: str = "") -> None:
    """Poll an external process's progress (a real worker: there is no clock to freeze)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def broker():
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.flushdb()  # our own Redis DB: leftovers of an earlier run must not be delivered
    yield client
    client.flushdb()


@pytest.fixture
def start_worker(broker, tmp_path):
    workers: list[subprocess.Popen] = []
    db_url = test_database_url()

    def start(
        name: str, *, app: str = "tests.outbox.celery_app", env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        env = {
            **os.environ,
            "DATABASE_URL": db_url,  # the TEST database, where the test's rows are committed
            "OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
            "OUTBOX_RETRY_BASE_SECONDS": "1",
            "CELERY_TASK_ALWAYS_EAGER": "0",
            "DB_CONN_MAX_AGE": "0",
            **(env or {}),
        }
        log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                app,
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--loglevel=INFO",
                "-n",
                f"{name}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        proc.log_path = tmp_path / f"{name}.log"
        workers.append(proc)
        wait_for(
            lambda: "ready." in proc.log_path.read_text() or proc.poll() is not None,
            what=f"worker {name} to start",
        )
        assert proc.poll() is None, proc.log_path.read_text()
        return proc

    yield start
    for proc in workers:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def fake_x():
    with FakeX() as fake:
        yield fake


@pytest.fixture
def make_approved_reply(fake_x, team_a, staff_a):
    """Replies by staff A on X conversations, each approved by a colleague when asked to.

    make_approved_reply(tweet_id) returns `approve`: calling it approves the reply, which
    queues its send on commit. Each reply answers its own mention (tweet_id) on its own
    conversation, so the platform's posts tell the replies apart.
    """
    team_a.review_policy = ReviewPolicy.ALWAYS
    team_a.save()
    reviewer = UserFactory(username="rita", role="staff")
    team_a.memberships.create(user=reviewer)

    def make(tweet_id: str = "1917854669995126784") -> Callable[[], Reply]:
        conversation = ConversationFactory(
            department=team_a,
            status="assigned",
            assignee=staff_a,
            channel__config={"api_base_url": fake_x.url, "timeout": 1, "user_id": OUR_ID},
            channel__credentials_encrypted=encrypt_credentials(
                {
                    "consumer_key": "ck",
                    "consumer_secret": "cs",
                    "access_token": f"{OUR_ID}-at",
                    "access_token_secret": "ats",
                    "user_id": OUR_ID,
                }
            ),
        )
        MessageFactory(conversation=conversation, external_id=tweet_id)
        reply = reply_services.save_draft(
            conversation=conversation, text="We sturen morgen een monteur.", acting_user=staff_a
        )
        reply = reply_services.submit_reply(reply=reply, acting_user=staff_a)
        assert reply.state == ReplyState.PENDING_REVIEW

        def approve() -> Reply:
            return reply_services.approve_reply(reply=reply, acting_user=reviewer)

        return approve

    return make


@pytest.fixture
def approved_reply(make_approved_reply):
    """A reply by staff A on an X conversation, approved by a colleague: queued on commit."""
    return make_approved_reply()


def reply_state(reply: Reply) -> str:
    reply.refresh_from_db()
    return reply.state


def assert_sent_once(reply: Reply, fake_x: FakeX, tweet_id: str = "1917854669995126784") -> None:
    """The reply is sent, and the platform holds exactly one post answering tweet_id."""
    reply.refresh_from_db()
    assert reply.state == ReplyState.SENT
    answering = [
        post
        for post in fake_x.posts
        if post["referenced_tweets"] == [{"type": "replied_to", "id": tweet_id}]
    ]
    assert len(answering) == 1, fake_x.posts
    post = answering[0]
    assert reply.external_id == post["id"]
    message = Message.objects.get(conversation=reply.conversation, direction=Direction.OUTBOUND)
    assert message.external_id == post["id"]
    assert message.url.endswith(f"/status/{post['id']}")


def test_a_plain_send_posts_once(start_worker, approved_reply, fake_x):
    start_worker("w1")
    reply = approved_reply()
    wait_for(lambda: reply_state(reply) == ReplyState.SENT, what="the reply to be sent")
    assert_sent_once(reply, fake_x)
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.SENT]


def test_a_crash_between_the_post_and_the_commit_posts_once(start_worker, approved_reply, fake_x):
    fake_x.modes = ["crash"]
    first = start_worker("w1")
    reply = approved_reply()
    assert fake_x.posted.wait(45), first.log_path.read_text()
    first.send_signal(signal.SIGKILL)  # the platform has the post; the worker never learns it
    first.wait()
    # The attempt was committed before the call: the crash left a trace to check.
    assert reply_state(reply) == ReplyState.SENDING
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.PENDING]

    start_worker("w2")

    def recovered() -> bool:
        recover_outbox()  # what the "outbox-recover" beat entry runs every minute
        return reply_state(reply) == ReplyState.SENT

    wait_for(recovered, what="recovery after the crash")
    assert_sent_once(reply, fake_x)
    assert fake_x.post_requests == 1
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.FOUND]


def test_a_timeout_after_the_platform_posted_posts_once(start_worker, approved_reply, fake_x):
    fake_x.modes = ["slow"]
    fake_x.delay = 2.5  # the connector's timeout is 1 s: the client gives up, X still posts
    start_worker("w1")
    reply = approved_reply()
    wait_for(lambda: reply_state(reply) == ReplyState.SENT, what="the reply to be sent")
    assert_sent_once(reply, fake_x)
    assert list(reply.attempts.values_list("outcome", flat=True)) == [AttemptOutcome.FOUND]


@pytest.mark.parametrize(
    ("mode", "outcomes", "requests"),
    [
        # X answered 503 but had posted: found by the check, not posted again.
        ("5xx-posted", [AttemptOutcome.FOUND], 1),
        # X answered 503 and had not posted: the check finds nothing, the retry posts.
        ("5xx", [AttemptOutcome.NOT_FOUND, AttemptOutcome.SENT], 2),
    ],
)
def test_a_server_error_posts_once(start_worker, approved_reply, fake_x, mode, outcomes, requests):
    fake_x.modes = [mode]
    start_worker("w1")
    reply = approved_reply()
    wait_for(lambda: reply_state(reply) == ReplyState.SENT, what="the reply to be sent")
    assert_sent_once(reply, fake_x)
    assert fake_x.post_requests == requests
    assert list(reply.attempts.values_list("outcome", flat=True)) == outcomes


def test_the_same_task_delivered_several_times_posts_once(start_worker, approved_reply, fake_x):
    fake_x.delay = 1.0  # keep the first delivery busy while the others arrive
    start_worker("w1")
    start_worker("w2")
    reply = approved_reply()  # queues one delivery on commit
    for _ in range(3):
        send_reply_task.delay(reply.pk)  # and the same task again, to either worker
    wait_for(lambda: reply_state(reply) == ReplyState.SENT, what="the reply to be sent")
    # Give the duplicates time to be consumed, then check nothing else was posted.
    wait_for(lambda: broker_empty(), what="the queue to drain")
    time.sleep(1.5)  # a duplicate being processed right now would post within fake_x.delay
    assert_sent_once(reply, fake_x)
    assert fake_x.post_requests == 1


def broker_empty() -> bool:
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    return client.llen("celery") == 0
