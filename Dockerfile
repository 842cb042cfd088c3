# Production image: gunicorn web, Celery worker and beat share it (see docker-compose.yml).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PROJECT_ENVIRONMENT=/opt/venv PATH=/opt/venv/bin:$PATH
RUN apt-get update && apt-get install -y --no-install-recommends gettext curl && rm -rf /var/lib/apt/lists/* \
    && pip install --no-cache-dir uv==0.13.8 && useradd --create-home --uid 1000 webcare
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
RUN SECRET_KEY=build-only DEBUG=false python manage.py collectstatic --noinput -v0 \
    && python manage.py compilemessages -v0 && chown -R webcare /app
USER webcare
EXPOSE 8000
CMD ["gunicorn", "webcare.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--preload"]
