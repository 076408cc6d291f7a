# One image for both processes of the Procfile:
#   web:    docker run ... gatekeeper-image                      (gunicorn app:app)
#   worker: docker run ... gatekeeper-image gatekeeper worker
# The worker runs untrusted tests in bubblewrap, which needs user namespaces inside the
# container: run it with --security-opt seccomp=unconfined --security-opt apparmor=unconfined
# (or a seccomp profile that allows clone/unshare of user namespaces), and give it a
# delegated cgroup (--cgroupns=private on a cgroup v2 host) for the process and memory caps.
# `gatekeeper doctor` inside the container says which of these is missing.
FROM python:3.12-slim

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap git ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 gatekeeper
WORKDIR /app
COPY pyproject.toml README.md app.py gunicorn.conf.py Procfile ./
COPY gatekeeper ./gatekeeper
COPY rules ./rules
RUN pip install --no-cache-dir -e . \
    && chown -R gatekeeper:gatekeeper /app

USER 10001
ENV GATEKEEPER_CACHE_DIR=/home/gatekeeper/.cache/gatekeeper \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["gunicorn", "app:app"]
