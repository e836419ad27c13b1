"""The local EventBridge Scheduler: moto serves the API and stores schedules; this package fires them.

* :mod:`sqsq.local.scheduler.engine`: the firing loop on the controllable clock (what fires when, catch-up cap);
* :mod:`sqsq.local.scheduler.targets`: one firing: context attributes, SQS targets, retries, dead-letter events.

:class:`sqsq.local.services.scheduler.SchedulerService` runs the engine inside the local AWS server.
"""

from __future__ import annotations
