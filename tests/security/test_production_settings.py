"""Production (a real SECRET_KEY) switches on secure cookies, HSTS and the SSL redirect."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ("
    "'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', "
    "'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_HTTPONLY', "
    "'LOG_FORMAT')}))"
)


def _settings(**env) -> dict:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS")
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=base | {"DJANGO_SETTINGS_MODULE": "webcare.settings"} | env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_is_secure():
    s = _settings(SECRET_KEY="a-real-production-secret-" + "k" * 40)
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SESSION_COOKIE_HTTPONLY"]
    assert s["SECURE_SSL_REDIRECT"]
    assert s["SECURE_HSTS_SECONDS"] >= 31536000 and s["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert s["LOG_FORMAT"] == "json"


def test_embedded_default_stays_on_plain_http():
    s = _settings()
    assert not s["SESSION_COOKIE_SECURE"] and not s["SECURE_SSL_REDIRECT"]
    assert s["SECURE_HSTS_SECONDS"] == 0


def test_hsts_header_is_sent_over_https(client, settings, db):
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = client.get("/login/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "includeSubDomains" in response["Strict-Transport-Security"]
