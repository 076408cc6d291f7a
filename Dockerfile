# One image, two targets (deploy/compose.yaml and deploy/kubernetes/ use both; docs/deploy.md):
#   web:    docker build --target web .      gunicorn app:app; health: GET /healthz
#   worker: docker build --target worker .   gatekeeper worker; health: its own heartbeat in
#           Redis (`gatekeeper worker --health`), since a worker serves no web port.
# The worker runs untrusted tests in bubblewrap as an unprivileged user, which needs user
# namespaces and a fresh /proc inside the container: run it with
#   --security-opt seccomp=unconfined --security-opt apparmor=unconfined
#   --security-opt systempaths=unconfined --security-opt no-new-privileges:true --cap-drop ALL
# (docs/deploy.md says why each one). `gatekeeper doctor` inside the container says what is missing.
FROM python:3.12-slim AS base

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 gatekeeper \
    && mkdir -p /var/cache/gatekeeper && chown gatekeeper:gatekeeper /var/cache/gatekeeper
WORKDIR /app
# every dependency from the hashed lock (`make lock`), nothing resolved at build time
COPY requirements.lock requirements-scanners.lock ./
RUN pip install --no-cache-dir --require-hashes --no-deps -r requirements.lock
COPY pyproject.toml README.md app.py gunicorn.conf.py Procfile ./
COPY gatekeeper ./gatekeeper
COPY rules ./rules
RUN pip install --no-cache-dir --no-deps --no-index --no-build-isolation -e . \
    && chown -R gatekeeper:gatekeeper /app
ENV GATEKEEPER_CACHE_DIR=/var/cache/gatekeeper \
    PYTHONUNBUFFERED=1

FROM base AS worker
# Interpreters for the projects under test, beside the image's own 3.12: relocatable CPython
# builds that uv installs, each at a fixed path the worker is told of (GATEKEEPER_PYTHONS).
# Add or drop a version in both lines. The newest one runs bandit (the scanner environment).
ENV UV_PYTHON_INSTALL_DIR=/opt/pythons \
    UV_PYTHON_BIN_DIR=/opt/pythons/bin
RUN uv python install 3.9 3.10 3.11 3.13
ENV GATEKEEPER_PYTHONS=/opt/pythons/bin/python3.13:/usr/local/bin/python3.12:/opt/pythons/bin/python3.11:/opt/pythons/bin/python3.10:/opt/pythons/bin/python3.9 \
    GATEKEEPER_SCANNER_PYTHON=/opt/scanners/bin/python
RUN python -m gatekeeper.scanners.toolenv /opt/scanners requirements-scanners.lock
USER 10001
# the worker registers once its package cache has started and warmed: give it time
HEALTHCHECK --interval=30s --timeout=10s --start-period=15m CMD ["gatekeeper", "worker", "--health"]
CMD ["gatekeeper", "worker"]

# last, so a plain `docker build .` gives the web image, as before
FROM base AS web
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "app:app"]
