"""Scheduling on EventBridge Scheduler (issue 12): schedule expressions and periodic tasks.

* :mod:`sqsq.scheduling.expressions`: ``cron()``/``every()`` declarations, EventBridge expression evaluation;
* :mod:`sqsq.scheduling.periodic`: ``app.schedule(...)`` declarations and the Input each firing sends;
* :mod:`sqsq.scheduling.listing`: what ``sqsq schedules`` shows.

Nothing here runs a scheduler: EventBridge Scheduler (or, locally, :mod:`sqsq.local.scheduler`) fires.
"""

from __future__ import annotations
