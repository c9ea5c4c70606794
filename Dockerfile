# Switchboard: one image, the same `manage.py serve` as `make run`.
#   docker build -t switchboard .
#   docker run -p 8000:8000 -v switchboard-data:/data switchboard
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PATH="/app/.venv/bin:$PATH" \
    DATA_DIR=/data

WORKDIR /app

# uv from PyPI rather than its own image: one registry to reach during the build.
RUN pip install --no-cache-dir "uv>=0.13"

# The locked dependencies first, so a code change reuses this layer.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .

# Importing the settings generates secrets into DATA_DIR: collectstatic gets a throwaway
# one, so no key is baked into the image.
RUN DATA_DIR=/tmp/build-data python manage.py collectstatic --noinput \
    && rm -rf /tmp/build-data

RUN useradd --system --uid 10001 --no-create-home --home-dir /app switchboard \
    && mkdir -p /data \
    && chown switchboard:switchboard /data
USER switchboard
VOLUME ["/data"]
EXPOSE 8000

# urllib, not curl (slim has none). The Host header is the first ALLOWED_HOSTS entry, so
# an instance restricted to its public name still answers its own health check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; host = os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].strip().lstrip('.*') or 'localhost'; r.urlopen(r.Request('http://127.0.0.1:8000/ping', headers={'Host': host}), timeout=4)"]

# Every start migrates (a no-op when current) and creates the first admin when there is
# none, printing a generated password once to the container log; then exec's the CMD so
# serve is PID 1 and receives `docker stop`'s SIGTERM. The system checks run once, in
# serve's first web worker. A stop drains for SHUTDOWN_GRACE_SECONDS (30): give docker
# stop more than that (`docker stop -t 45`, compose `stop_grace_period: 45s`).
ENTRYPOINT ["sh", "-c", "python manage.py migrate --noinput --skip-checks && python manage.py ensure_admin && exec \"$@\"", "--"]
CMD ["python", "manage.py", "serve", "--host", "0.0.0.0"]
