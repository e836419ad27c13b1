"""Lambda entry point of the demo app (template.yaml: ``Handler: lambdas/census.handler``)."""

from __future__ import annotations

import sqsq
from sqsq.demo.app import app

handler = sqsq.lambda_handler(app)
