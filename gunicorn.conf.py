"""gunicorn reads this in its master process before forking workers (`gunicorn app:app`).

The secrets are taken out of the environment here, so neither the master nor the workers it
forks keep them where a child process or /proc/<pid>/environ could show them.
"""

from gatekeeper.service.settings import take_secrets

take_secrets()
