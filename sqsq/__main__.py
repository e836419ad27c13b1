"""``python -m sqsq``: the ``sqsq`` command, as the console script runs it (see :mod:`sqsq.cli`).

Only this path imports the CLI (click): ``import sqsq`` does not. Commands that need the ``cli`` extra (rich,
PyYAML) say so in one line naming the ``pip install "sqsq[cli]"`` and exit 3, as ``sqsq`` does.
"""

from __future__ import annotations

from sqsq.cli import main

if __name__ == "__main__":  # not when a spawned child re-imports the parent's main module
    main(prog_name="sqsq")
