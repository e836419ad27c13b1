"""A handler file of your own, the alternative to sqsq's generic entry point (``sqsq.lambda_entry.handler``).

The demo's template uses the generic one; render it with ``--handler census.handler --code-uri lambdas`` to use
this file instead (``lambdas/`` is the function's CodeUri, so the module is ``census`` at the task root).
"""

from __future__ import annotations

import sqsq
from sqsq.demo.app import app

handler = sqsq.lambda_handler(app)
