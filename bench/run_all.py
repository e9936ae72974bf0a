"""`make bench`: run every benchmark script; each writes its JSON into bench/results/.

Benchmarks measure (speed, size, accuracy) as ratios against a peer run in the same process;
tests never assert on time. Scripts that need a trained model train or reuse one themselves.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SCRIPTS = ["train_throughput.py", "inference.py", "compression.py", "imagenet.py", "explain.py"]


def main() -> int:
    failed = []
    for name in SCRIPTS:
        script = HERE / name
        print(f"== {name}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"results in {HERE / 'results'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
