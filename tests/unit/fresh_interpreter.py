"""What a fresh interpreter has imported after running some code: the start-up tests' probe (no timings)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules_after(code: str) -> set[str]:
    """``sys.modules`` of a fresh ``python -c`` that ran ``code`` (in this repository, with a Lambda-like
    environment: ``SQSQ_APP=tests.apps.lambda_app:app``, ``AWS_LAMBDA_FUNCTION_NAME`` set)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQSQ_")}
    env.update(SQSQ_APP="tests.apps.lambda_app:app", AWS_LAMBDA_FUNCTION_NAME="fn", PYTHONPATH=str(ROOT))
    full = f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run([sys.executable, "-c", full], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))
