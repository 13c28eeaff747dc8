# Production image: gunicorn serves the web, the same image runs the Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DJANGO_SETTINGS_MODULE=config.settings

WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install -r requirements.lock

COPY . .
# Static files are collected at build time with throwaway keys; none of them ends up in the image.
RUN SECRET_KEY=build-only-$(python -c "import secrets;print(secrets.token_urlsafe(50))") \
    FERNET_KEYS=build-only-$(python -c "import secrets;print(secrets.token_urlsafe(32))") \
    BLIND_INDEX_KEY=build-only-$(python -c "import secrets;print(secrets.token_urlsafe(32))") \
    DISCLOSURE_CHAIN_KEY=build-only-$(python -c "import secrets;print(secrets.token_urlsafe(32))") \
    DATABASE_URL=postgres://build@localhost/build REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --no-input -v 0

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin memberguard \
    && mkdir -p /app/var && chown -R memberguard /app/var
USER memberguard

EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.conf.py", "config.wsgi:application"]
