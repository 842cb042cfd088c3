import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "SECRET_KEY": "x" * 20 + "production-secret-key-for-the-deploy-check-0123456789",
    "DATABASE_URL": "postgres://webcare:webcare@127.0.0.1:5432/webcare",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "ALLOWED_HOSTS": "webcare.example.org",
    "DEBUG": "false",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")
    } | env
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_passes_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_fails_without_a_secret_key():
    env = PRODUCTION_ENV | {"SECRET_KEY": ""}
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr, result.stderr[-2000:]


def test_compose_commands_exist_in_the_project():
    """No Docker engine here: parse docker-compose.yml and check each service's command is real."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], f"{name} has no health check"
    assert compose["volumes"], "database and redis need volumes"

    web = services["web"]["command"]
    assert web[0] == "gunicorn"
    module, attr = web[1].split(":")
    assert (ROOT / (module.replace(".", "/") + ".py")).exists()
    assert attr == "application"

    for name in ("worker", "worker-ingest", "beat"):
        cmd = services[name]["command"]
        assert cmd[:3] == ["celery", "-A", "webcare"], cmd
        assert cmd[3] in ("worker", "beat")
    from webcare.celery import app

    # Every queue a task can be routed to has a worker consuming it (polls go to "ingest").
    consumed = set()
    for service in services.values():
        cmd = service.get("command") or []
        if cmd[:4] == ["celery", "-A", "webcare", "worker"]:
            consumed |= set(cmd[cmd.index("-Q") + 1].split(",")) if "-Q" in cmd else {"*"}
    assert {q.name for q in app.conf.task_queues} <= consumed, consumed
    assert app.amqp.router.route({}, "inbox.poll_channel")["queue"].name == "ingest"

    for entry in app.conf.beat_schedule.values():
        app.loader.import_default_modules()
        assert entry["task"] in app.tasks, f"beat schedules unknown task {entry['task']}"

    migrate = services["migrate"]["command"]
    assert migrate[:2] == ["python", "manage.py"]
    result = _manage("help", migrate[2], env={})
    assert result.returncode == 0
    assert (ROOT / "Dockerfile").exists()
