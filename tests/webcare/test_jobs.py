"""webcare.jobs.enqueue finds every task a service names, in a process that never imported a
task module: a web process publishes replies to send, and Celery loads task modules lazily."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _enqueued_task_names() -> set[str]:
    names = set()
    for path in ROOT.glob("*/**/*.py"):
        if ".venv" in path.parts or "tests" in path.parts or "bench" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", None) == "enqueue"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.add(node.args[0].value)
    return names


def test_every_enqueued_task_is_found_in_a_fresh_web_process():
    names = sorted(_enqueued_task_names())
    assert "inbox.send_reply" in names  # the scan sees the services' calls
    script = (
        "import sys, django; django.setup()\n"
        "from webcare.jobs import task_named\n"
        "for name in sys.argv[1:]: print(task_named(name).name)\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", script, *names],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stderr[-2000:]
    assert found.stdout.split() == names
