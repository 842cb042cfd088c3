"""Load benchmark: the whole app under a working day's worst hour.

    python bench/load.py [--duration 300] [--port 0] [--gunicorn-workers 6]

Reads DATABASE_URL and REDIS_URL (both must point at loopback servers). Migrates that database,
creates 20 coordinators, 50 staff in 5 teams and 5 managers, and a simulator channel producing
30,000 messages a minute (500/s). Then starts gunicorn on a free 127.0.0.1 port and a real Celery
worker (with embedded beat), and runs locust headless as a subprocess against gunicorn:

- coordinators poll the inbox "N new" marker, open the inbox and triage (forward or assign) the
  conversations of their own share (pk % 20), so two of them never race for the same row;
- staff open their team queue, a conversation, and save and send a reply (simulator channel);
- managers load the dashboard and its panels.

Meanwhile this process asks the worker to poll the simulator channel every second, and samples
the ingest lag (now - the newest stored message's created_at) every two seconds. Prints
requests/s, p50/p95/p99 per endpoint, errors and the ingest lag; the last line is
`RESULT rps=<n> p95_ms=<n> errors=<n> ingest_lag_s=<n>`. Target: errors 0, p95 < 200, lag < 5.

The users are locust's FastHttpUser (geventhttpclient): the load generator shares the two
cores with what it measures, and python-requests would cost it several times the CPU.

This same file is the locustfile: locust imports it as a module (not __main__), and only then
are the user classes defined, so the orchestrator never runs under gevent's monkey patching.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "load-bench-Pa55!"
COORDINATORS, STAFF, MANAGERS, TEAMS = 20, 50, 5, 5
RATE_PER_MINUTE = 30_000
ROW = re.compile(r'id="conversation-(\d+)"')
TEAM_ROW = re.compile(r"/team/conversations/(\d+)/")
VERSION = re.compile(r'data-version="(\d+)"')
CSRF_SECRET = "loadbench" + "x" * 23  # 32 characters of [a-zA-Z0-9]
PANEL_NAMES = ("volume", "response", "department", "backlog", "sentiment")


# ----------------------------------------------------------------------------- locust side

if __name__ != "__main__":
    from locust import FastHttpUser, between, task
    from requests.cookies import create_cookie

    _next_index: dict[str, itertools.count] = {}

    def _login(user, prefix: str, count: int) -> None:
        # Each user of a class gets its own account and index (the coordinators' triage shares).
        user.index = next(_next_index.setdefault(prefix, itertools.count())) % count
        username = f"{prefix}{user.index:02d}"
        # Sessions are made by the orchestrator: 75 password hashes through the login form
        # would measure PBKDF2, not the app (and starve two shared cores for a minute).
        sessions = json.loads(Path(os.environ["LOAD_SESSIONS"]).read_text())
        domain = urlsplit(user.host).hostname
        jar = user.client.cookiejar
        jar.set_cookie(create_cookie("sessionid", sessions[username], domain=domain, path="/"))
        # Django accepts an unmasked 32-character secret when cookie and header agree.
        jar.set_cookie(create_cookie("csrftoken", CSRF_SECRET, domain=domain, path="/"))

    def _post(user, path: str, data: dict, name: str):
        token = CSRF_SECRET
        return user.client.post(
            path,
            data,
            headers={"X-CSRFToken": token, "HX-Request": "true", "Referer": user.host + path},
            name=name,
        )

    class Coordinator(FastHttpUser):
        weight = COORDINATORS
        wait_time = between(1, 3)

        def on_start(self):
            _login(self, "coord", COORDINATORS)
            self.teams = [int(t) for t in os.environ["LOAD_TEAM_IDS"].split(",")]
            self.staff = [int(t) for t in os.environ["LOAD_STAFF_IDS"].split(",")]

        @task(5)
        def poll_new(self):
            self.client.get("/inbox/new/", headers={"HX-Request": "true"}, name="/inbox/new/")

        @task(1)
        def triage(self):
            page = self.client.get("/inbox/", name="/inbox/")
            mine = [
                int(pk) for pk in ROW.findall(page.text) if int(pk) % COORDINATORS == self.index
            ]
            if not mine:
                return
            pk = mine[0]
            panel = self.client.get(
                f"/conversations/{pk}/", headers={"HX-Request": "true"}, name="/conversations/<pk>/"
            )
            match = VERSION.search(panel.text)
            if not match:
                return
            version = match.group(1)
            if random.random() < 0.8:
                _post(
                    self,
                    f"/conversations/{pk}/forward/",
                    {"department": random.choice(self.teams), "version": version, "note": ""},
                    "/conversations/<pk>/forward/",
                )
            else:
                _post(
                    self,
                    f"/conversations/{pk}/assign/",
                    {"assignee": random.choice(self.staff), "version": version},
                    "/conversations/<pk>/assign/",
                )

    class Staff(FastHttpUser):
        weight = STAFF
        wait_time = between(2, 6)

        def on_start(self):
            _login(self, "staff", STAFF)

        @task
        def reply(self):
            page = self.client.get("/team/", name="/team/")
            rows = sorted({int(pk) for pk in TEAM_ROW.findall(page.text)})
            if not rows:
                return
            # Members of a team share its queue: each picks any row of the page, so collisions
            # stay rare and nobody answers the same conversation fifty times in five minutes
            # (a fixed row per person did, and the run measured that thread's growth).
            pk = random.choice(rows)
            self.client.get(f"/team/conversations/{pk}/", name="/team/conversations/<pk>/")
            _post(
                self,
                f"/team/conversations/{pk}/replies/",
                {"text": "Dank voor je bericht, we kijken ernaar.", "action": "submit"},
                "/team/conversations/<pk>/replies/",
            )

    class Manager(FastHttpUser):
        weight = MANAGERS
        wait_time = between(3, 8)

        def on_start(self):
            _login(self, "manager", MANAGERS)

        @task
        def dashboard(self):
            self.client.get("/dashboards/?days=7", name="/dashboards/")
            for name in PANEL_NAMES:
                self.client.get(
                    f"/dashboards/panel/{name}/?days=7",
                    headers={"HX-Request": "true"},
                    name="/dashboards/panel/<name>/",
                )


# ----------------------------------------------------------------------------- orchestrator


def _loopback_only(url: str, what: str) -> None:
    host = urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"{what} must point at loopback, not {host!r}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_data(sessions_file: Path) -> dict:
    """Migrate, create the users, teams and the simulator channel; return ids for the users."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webcare.settings")
    sys.path.insert(0, str(ROOT))
    django.setup()
    from django.core.management import call_command

    from inbox.models import Channel
    from routing.models import Department, Membership
    from webcare.accounts.models import User

    call_command("migrate", verbosity=0)
    teams = [
        Department.objects.get_or_create(slug=f"load-team-{i}", defaults={"name": f"Team {i}"})[0]
        for i in range(TEAMS)
    ]

    def user(username: str, role: str):
        u, created = User.objects.get_or_create(username=username, defaults={"role": role})
        if created:
            u.set_password(PASSWORD)
            u.role = role
            u.save()
        return u

    for i in range(COORDINATORS):
        user(f"coord{i:02d}", "coordinator")
    staff = []
    for i in range(STAFF):
        u = user(f"staff{i:02d}", "staff")
        Membership.objects.get_or_create(user=u, department=teams[i % TEAMS])
        staff.append(u)
    for i in range(MANAGERS):
        user(f"manager{i:02d}", "manager")
    channel, _ = Channel.objects.update_or_create(
        name="Load simulator",
        defaults={
            "kind": "simulator",
            "enabled": True,
            "own_handles": ["woonstad"],
            "poll_interval_seconds": 1,
            # A 3-second backlog: the lag measures keeping up, not a catch-up from earlier runs.
            "config": {"rate_per_minute": RATE_PER_MINUTE, "backlog_minutes": 0.05},
            "cursor": {},
            "poll_claimed_until": None,
        },
    )
    # An earlier run stops its workers with sends still queued: their replies stay approved,
    # and this run's worker would send them on top of this run's own (or outbox-recover would
    # queue them again). Not this run's workload: the queues are emptied and those replies
    # marked failed.
    from inbox.models import Reply, ReplyState
    from webcare.celery import app

    app.control.purge()
    Reply.objects.filter(
        conversation__channel=channel,
        state__in=[ReplyState.APPROVED, ReplyState.SENDING, ReplyState.UNKNOWN],
    ).update(state=ReplyState.FAILED, lease_until=None, last_error="left by an earlier load run")

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.utils.module_loading import import_string

    store = import_string(settings.SESSION_ENGINE + ".SessionStore")
    sessions = {}
    for u in User.objects.filter(username__regex=r"^(coord|staff|manager)[0-9]{2}$"):
        session = store()
        session[SESSION_KEY] = str(u.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = u.get_session_auth_hash()
        session.create()
        sessions[u.username] = session.session_key
    sessions_file.write_text(json.dumps(sessions))
    return {
        "channel": channel.pk,
        "teams": ",".join(str(t.pk) for t in teams),
        "staff": ",".join(str(u.pk) for u in staff),
    }


class Ingest(threading.Thread):
    """Ask the worker to poll the channel every second; sample the lag every two seconds."""

    def __init__(self, channel_id: int, until: float):
        super().__init__(daemon=True)
        self.channel_id, self.until = channel_id, until
        self.lags: list[float] = []
        self.window: list[tuple[float, int]] = []
        self.error = ""

    def run(self):
        try:
            self._run()
        except Exception as exc:  # reported with the figures, never silently lost
            self.error = repr(exc)

    def _run(self):
        from django.db import close_old_connections
        from django.utils import timezone

        from inbox.models import Message
        from inbox.tasks.channels import poll_channel

        # Messages stored by an earlier run are not this run's lag: count from our start.
        started = timezone.now()
        # The rate is taken over this thread's own polling window: the orchestrator's clock
        # also runs through locust's start-up and stop timeout, when nobody polls.
        # Counted above the newest id at the start: a COUNT over the whole channel would cost
        # PostgreSQL a second at the start and at the end of the run.
        since_id = _newest_message_id()
        self.window = [(time.monotonic(), 0)]
        tick = 0
        while time.monotonic() < self.until and tick < 100_000:
            poll_channel.delay(self.channel_id)
            if tick % 2 == 0:
                close_old_connections()
                # On (channel, created_at), newest first: a MAX over a join read the whole
                # channel (a second of PostgreSQL per sample, and a snapshot held that long).
                newest = (
                    Message.objects.filter(channel_id=self.channel_id, direction="in")
                    .order_by("-created_at")
                    .values_list("created_at", flat=True)
                    .first()
                )
                newest = max(newest, started) if newest else started
                self.lags.append((timezone.now() - newest).total_seconds())
            tick += 1
            time.sleep(1)
        close_old_connections()
        self.window.append((time.monotonic(), _inbound(self.channel_id, since_id)))

    def rate(self) -> float:
        (t0, n0), (t1, n1) = self.window[0], self.window[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else float("nan")


class CpuAccount(threading.Thread):
    """CPU seconds per component over the middle of the run, read from /proc (Linux).

    p95 on two shared cores swings with whatever else runs; CPU per request does not, so
    this is what tells whether a change made the app cheaper.
    """

    def __init__(self, roots: dict[str, int], database: str, start: float, end: float):
        super().__init__(daemon=True)
        self.roots, self.database, self.start_at, self.end_at = roots, database, start, end
        self.first: tuple[float, dict[int, tuple[str, float]], tuple[float, float]] | None = None
        self.last: tuple[float, dict[int, tuple[str, float]], tuple[float, float]] | None = None
        self.seen: dict[int, tuple[str, float]] = {}

    @staticmethod
    def _machine_busy() -> tuple[float, float]:
        """(busy, stolen) CPU seconds of the whole machine: steal is time the host gave to
        another guest, which makes everything here slower without showing in any process."""
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        tick = os.sysconf("SC_CLK_TCK")
        busy = sum(fields[:7]) - fields[3] - fields[4]  # without idle, iowait and steal
        return busy / tick, fields[7] / tick

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        """{pid: (component, cpu seconds)}: by pid, so a process that exits or starts between
        two snapshots (a reconnecting database session) never counts negative."""
        from bench.common import process_stat

        procs = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                parent, cpu = process_stat(int(entry.name))
                cmdline = (
                    (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                )
            except OSError:
                continue
            procs[int(entry.name)] = (parent, cpu, cmdline)
        found = {}
        for pid, (_parent, cpu, cmdline) in procs.items():
            name = None
            if cmdline.startswith("postgres: ") and f" {self.database}" in cmdline:
                name = "postgres"  # sessions and autovacuum of this database
            elif cmdline.startswith("postgres: ") and "webcare_" not in cmdline:
                name = "postgres-aux"  # WAL writer, checkpointer: shared, but mostly ours now
            elif cmdline.startswith("redis-server"):
                name = "redis"
            elif "locust" in cmdline and "bench/load.py" in cmdline:
                name = "locust"
            else:
                node, depth = pid, 0
                while node and depth < 5 and name is None:
                    name = next((n for n, root in self.roots.items() if root == node), None)
                    node, depth = procs.get(node, (0,))[0], depth + 1
            if name:
                found[pid] = (name, cpu)
        return found

    def run(self):
        time.sleep(max(0.0, self.start_at - time.monotonic()))
        self.first = (time.monotonic(), self._snapshot(), self._machine_busy())
        # Polled, not just read twice: a database session that ends in between (gunicorn
        # reconnects every CONN_MAX_AGE) would take its CPU with it.
        self.seen = dict(self.first[1])
        while time.monotonic() < self.end_at:
            time.sleep(min(2.0, max(0.0, self.end_at - time.monotonic())))
            self.seen.update(self._snapshot())
        self.last = (time.monotonic(), self.seen, self._machine_busy())

    def report(self, requests_per_second: float) -> list[str]:
        if not (self.first and self.last):
            return ["cpu: not measured"]
        (t0, a, busy0), (t1, b, busy1) = self.first, self.last
        seconds = t1 - t0
        used: dict[str, float] = {}
        for pid, (name, cpu) in b.items():
            used[name] = used.get(name, 0.0) + cpu - a.get(pid, (name, 0.0))[1]
        lines = []
        for name, spent in sorted(used.items(), key=lambda item: -item[1]):
            per_request = spent / seconds / requests_per_second * 1000 if requests_per_second else 0
            lines.append(
                f"cpu {name:14} {spent / seconds * 100:6.1f}% of a core "
                f"({per_request:.1f} ms per request)"
            )
        measured = sum(used.values())
        lines.append(
            f"cpu machine busy {(busy1[0] - busy0[0]) / seconds * 100:.0f}% of {os.cpu_count()} "
            f"cores' {(os.cpu_count() or 1) * 100}%, these components {measured / seconds * 100:.0f}%, "
            f"stolen by the host {(busy1[1] - busy0[1]) / seconds * 100:.0f}%"
        )
        return lines


def _wait_for_ingest_worker(channel_id: int, timeout: float = 90) -> None:
    """One poll through the ingest worker before the clock starts: a worker still booting
    (Django and Celery import for seconds on a busy machine) is not ingest lag."""
    from django.utils import timezone

    from inbox.models import Channel
    from inbox.tasks.channels import poll_channel

    asked = timezone.now()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        poll_channel.delay(channel_id)
        time.sleep(1)
        done = Channel.objects.filter(pk=channel_id, last_success_at__gte=asked).exists()
        if done:
            return
    sys.exit(f"the ingest worker did not poll within {timeout:.0f} s")


def _inbound(channel_id: int, since_id: int) -> int:
    from inbox.models import Message

    return Message.objects.filter(channel_id=channel_id, direction="in", id__gt=since_id).count()


def _newest_message_id() -> int:
    from inbox.models import Message

    return Message.objects.order_by("-id").values_list("id", flat=True).first() or 0


def _stats(prefix: str) -> list[dict]:
    with open(f"{prefix}_stats.csv", newline="") as f:
        return list(csv.DictReader(f))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=300, help="seconds of load (default 300)")
    parser.add_argument("--gunicorn-workers", type=int, default=6, help="as docker-compose.yml")
    parser.add_argument("--gunicorn-threads", type=int, default=1, help="gthread when > 1")
    parser.add_argument("--worker-concurrency", type=int, default=1, help="default queue")
    parser.add_argument("--ingest-concurrency", type=int, default=1, help="ingest queue")
    parser.add_argument("--warmup", type=int, default=10, help="seconds before lag counts")
    args = parser.parse_args()
    for var in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(var):
            sys.exit(f"{var} must be set (a loopback PostgreSQL / Redis)")
        _loopback_only(os.environ[var], var)
    workdir = Path(tempfile.mkdtemp(prefix="webcare-load-"))
    ids = setup_data(workdir / "sessions.json")
    port = _free_port()
    host = f"http://127.0.0.1:{port}"
    venv = Path(sys.executable).parent
    env = dict(os.environ, PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE="webcare.settings")
    procs: list[subprocess.Popen] = []

    def stop_all():
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()

    try:
        # The log files stay open for the child's whole life, hence no `with` (SIM115).
        gunicorn_log = open(workdir / "gunicorn.log", "w")  # noqa: SIM115
        worker_log = open(workdir / "worker.log", "w")  # noqa: SIM115
        # As docker-compose.yml deploys it: the app logs every request itself (with its id),
        # so gunicorn keeps no second access log; --preload imports the app once.
        gunicorn = subprocess.Popen(
            [
                str(venv / "gunicorn"),
                "webcare.wsgi",
                "-b",
                f"127.0.0.1:{port}",
                "-w",
                str(args.gunicorn_workers),
                "--threads",
                str(args.gunicorn_threads),
                "--preload",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=gunicorn_log,
        )
        procs.append(gunicorn)
        # Two workers, as docker-compose.yml runs them: one for the default queue (reply sends,
        # sweeps; with beat embedded) and one for the ingest queue alone, so 12 reply sends a
        # second never queue ahead of the next poll.
        worker = subprocess.Popen(
            [
                str(venv / "celery"),
                "-A",
                "webcare",
                "worker",
                "-B",
                "-l",
                "warning",
                "-Q",
                "celery",
                "-n",
                "default@%h",
                "-c",
                str(args.worker_concurrency),
                "-s",
                str(workdir / "beat-schedule"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=worker_log,
        )
        procs.append(worker)
        ingest_worker = subprocess.Popen(
            [
                str(venv / "celery"),
                "-A",
                "webcare",
                "worker",
                "-l",
                "warning",
                "-Q",
                "ingest",
                "-n",
                "ingest@%h",
                "-c",
                str(args.ingest_concurrency),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=worker_log,
        )
        procs.append(ingest_worker)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            sys.exit("gunicorn did not start; see " + str(workdir / "gunicorn.log"))

        _wait_for_ingest_worker(ids["channel"])
        start = time.monotonic()
        ingest = Ingest(ids["channel"], until=start + args.duration)
        ingest.start()
        # After locust's ramp-up, until just before it stops.
        cpu = CpuAccount(
            {
                "gunicorn": gunicorn.pid,
                "celery-default": worker.pid,
                "celery-ingest": ingest_worker.pid,
                "orchestrator": os.getpid(),
            },
            urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/"),
            start=start + min(20, args.duration / 4),
            end=start + args.duration - 5,
        )
        cpu.start()
        prefix = str(workdir / "locust")
        users = COORDINATORS + STAFF + MANAGERS
        locust = subprocess.run(
            [
                str(venv / "locust"),
                "-f",
                __file__,
                "--headless",
                "--host",
                host,
                "-u",
                str(users),
                "-r",
                "25",
                "-t",
                f"{args.duration}s",
                "--csv",
                prefix,
                "--only-summary",
                "--reset-stats",
                "--stop-timeout",
                "10",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env=dict(
                env,
                LOAD_TEAM_IDS=ids["teams"],
                LOAD_STAFF_IDS=ids["staff"],
                LOAD_SESSIONS=str(workdir / "sessions.json"),
            ),
            timeout=args.duration + 120,
            capture_output=True,
            text=True,
        )
        ingest.join(timeout=5)
        ingest_rate = ingest.rate() if len(ingest.window) == 2 else float("nan")
        (workdir / "lags.txt").write_text("\n".join(f"{lag:.2f}" for lag in ingest.lags))
    finally:
        stop_all()
    if locust.returncode not in (0, 1):  # 1: locust's "there were failures"
        print(locust.stderr[-3000:])
        return 2

    rows = _stats(prefix)
    total = next(r for r in rows if r["Name"] == "Aggregated")
    print(f"{'endpoint':42} {'reqs':>7} {'fails':>6} {'p50':>6} {'p95':>6} {'p99':>6}")
    for r in rows:
        if r["Name"] == "Aggregated" or r["Name"].startswith("/login/"):
            continue
        print(
            f"{r['Type'] + ' ' + r['Name']:42} {r['Request Count']:>7} {r['Failure Count']:>6} "
            f"{r['50%']:>6} {r['95%']:>6} {r['99%']:>6}"
        )
    print(
        f"{'all':42} {total['Request Count']:>7} {total['Failure Count']:>6} "
        f"{total['50%']:>6} {total['95%']:>6} {total['99%']:>6}"
    )
    failures = Path(f"{prefix}_failures.csv")
    if failures.exists():
        for line in failures.read_text().splitlines()[1:11]:
            print("failure:", line[:200])
    lags = ingest.lags[args.warmup // 2 :] or ingest.lags or [float("nan")]
    print(
        f"ingest lag s: median {statistics.median(lags):.2f} max {max(lags):.2f} "
        f"({len(lags)} samples); logs in {workdir}"
    )
    print(
        f"ingested {ingest_rate:.0f} messages/s (target 500); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    if ingest.error:
        print("ingest thread failed:", ingest.error)
    rps = float(total["Requests/s"])
    cpu.join(timeout=1)
    for line in cpu.report(rps):
        print(line)
    print(
        f"RESULT rps={rps:.1f} p95_ms={total['95%']} errors={total['Failure Count']} "
        f"ingest_lag_s={max(lags):.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
