"""gunicorn reads this in its master process before forking workers (`gunicorn app:app`).

The secrets are taken out of the environment here, so neither the master nor the workers it
forks keep them where a child process or /proc/<pid>/environ could show them. The rest is
the production set-up docs/production.md describes, each value from the environment.
"""

import os

from gatekeeper.service.settings import take_secrets

take_secrets()

bind = os.environ.get("GATEKEEPER_BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
# webhooks are short (verify, dedupe, enqueue): threads, not processes, carry a burst
worker_class = "gthread"
workers = int(os.environ.get("GATEKEEPER_WEB_WORKERS", "2"))
threads = int(os.environ.get("GATEKEEPER_WEB_THREADS", "8"))
timeout = 30  # GitHub gives up on a delivery after 10 s
graceful_timeout = 30
keepalive = 5
# behind a TLS-terminating proxy: trust its X-Forwarded-* from these addresses only
forwarded_allow_ips = os.environ.get("GATEKEEPER_FORWARDED_ALLOW_IPS", "127.0.0.1")
certfile = os.environ.get("GATEKEEPER_TLS_CERT") or None  # or TLS in gunicorn itself
keyfile = os.environ.get("GATEKEEPER_TLS_KEY") or None
accesslog = "-"
