# The portal's image: web (gunicorn + uvicorn workers), Celery worker and beat all run it.
# Build: docker build -t token-portal .   Run: compose.yaml, docs/operations.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_ENV=production \
    VAR_DIR=/app/var \
    PORT=8000

# gettext: compilemessages (msgfmt). fonts-wqy-microhei: the Chinese font PDFs embed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 portal

WORKDIR /app
COPY . .
# Static files and the zh-Hans catalog are built into the image. Production settings demand
# a secret key, peppers and field encryption keys: throwaway values (the key is 32 zero
# bytes), for these two commands only. /run/metrics: the Prometheus multiprocess folder (a
# volume shared by web and worker in compose.yaml).
RUN pip install . \
    && SECRET_KEY=build-only API_KEY_PEPPERS=build:build-only \
       FIELD_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
       python manage.py collectstatic --no-input \
    && SECRET_KEY=build-only API_KEY_PEPPERS=build:build-only \
       FIELD_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
       python manage.py compilemessages --locale zh_Hans \
    && mkdir -p /run/metrics \
    && chown portal /run/metrics

USER portal
EXPOSE 8000
# gunicorn reads ./gunicorn.conf.py: uvicorn workers on portal.asgi, settings from the env.
CMD ["gunicorn"]
