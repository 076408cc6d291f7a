"""Worker-side parsing of pull request content under adversarial sizes: size against time.

    .venv/bin/python bench/parser_budgets.py

Baseline in the same run: the earlier per-package line lookup for lock files (quadratic) on
the sizes where it finishes in reasonable time, and `Path.glob` on the workspace patterns.
"""

import tempfile
import time
from pathlib import Path

from gatekeeper.runner.testenv import TooComplex, member_folders
from gatekeeper.scanners.depaudit import _line_of, _locked


def lock(n: int) -> str:
    return "".join(f'[[package]]\nname = "p{i}"\nversion = "1.{i}"\n\n' for i in range(n))


def timed(call) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def main() -> None:
    print("uv.lock packages | gate (s) | earlier per-package lookup (s) | ratio")
    for n in (1_000, 3_000, 15_000):
        text = lock(n)
        now = timed(lambda text=text: _locked("uv.lock", text))
        old = timed(lambda text=text, n=n: [_line_of(text, f'name = "p{i}"') for i in range(n)]) \
            if n <= 3_000 else None
        ratio = f"{now / old:.3f}" if old else "-"
        print(f"{n:>16} | {now:8.3f} | {old if old is None else round(old, 3)!s:>30} | {ratio}")
    print()
    print("workspace pattern, 24-deep chain | gate (s) | Path.glob (s)")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        deep = root
        for i in range(24):
            deep = deep / f"d{i}"
        deep.mkdir(parents=True)
        for pattern in ("packages/*", "**/d23", "**/**/x", "**/**/**/**/x"):
            def gate(pattern=pattern):
                try:
                    member_folders(root, pattern)
                except TooComplex:
                    pass
            glob = timed(lambda pattern=pattern: list(root.glob(pattern))) \
                if pattern.count("**") <= 3 else None
            print(f"{pattern:>32} | {timed(gate):8.4f} | "
                  f"{'not run (exponential)' if glob is None else round(glob, 4)}")


if __name__ == "__main__":
    main()
