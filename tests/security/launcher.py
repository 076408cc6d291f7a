"""Stands in for a worker: takes its secrets as `gatekeeper worker` does, then runs one attack
in the sandbox the way the tests stage runs pull request code. Prints the sandbox's result.

`python launcher.py SOURCE ATTACK [ARG...]`, with the canary secrets in its environment.
"""

import base64
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's code, not the
# installed copy's: an editable install may point at another worktree

from gatekeeper.core import redact  # noqa: E402
from gatekeeper.runner import sandbox  # noqa: E402
from gatekeeper.service.settings import load_settings, load_stage_config  # noqa: E402

settings = load_settings()  # as the worker: secrets read once, removed from the environment
redact.add(*settings.secrets())
cache = load_stage_config().cache_dir
source = Path(sys.argv[1])
python = os.path.realpath(sys.base_prefix) + "/bin/python3"
limits = sandbox.Limits(wall_seconds=120, cpu_seconds=120, output_bytes=256 * 1024)
run = sandbox.run(source, [python, "hostile.py", *sys.argv[2:]], limits,
                  collect="/tmp/attack.json", binds=[str(cache)])
print(json.dumps({"exit": run.exit_code, "limit": run.limit, "stdout": run.stdout,
                  "stderr": run.stderr, "result": base64.b64encode(run.result or b"").decode(),
                  "environ": sorted(os.environ)}))
