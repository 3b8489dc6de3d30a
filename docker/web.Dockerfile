# The web (Django ASGI + Channels under daphne) and Celery worker/beat: one image, three commands
# (see docker-compose.yml). Python 3.12: Django 6 needs it.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them.
COPY requirements/base.txt requirements/worker.txt requirements/
RUN pip install -r requirements/base.txt

COPY . .

# Static files into STATIC_ROOT (var/static), served by WhiteNoise.
RUN python manage.py collectstatic --noinput

# An unprivileged user; var/ (static, celery beat schedule) and /data (the demo's SQLite volume)
# are the only places it writes.
RUN useradd --create-home --uid 1000 arena \
    && mkdir -p /app/var /data \
    && chown -R arena:arena /app/var /data
USER arena

EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--websocket_connect_timeout", "30", "--websocket-max-message-size", "131072", "--access-log", "/dev/null", "config.asgi:application"]
