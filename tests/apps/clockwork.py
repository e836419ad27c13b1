"""A periodic task for tests/integration/test_local_scheduler.py: ``clockwork.stamp`` every 10 minutes (UTC)."""

from __future__ import annotations

import sqsq

app = sqsq.App("clockwork")


@app.task(name="clockwork.stamp")
def stamp(label: str) -> str:
    """Return the label (the test reads it back from each firing's record)."""
    return label


app.schedule(stamp, sqsq.cron("*/10 * * * *"), args={"label": "tick"}, name="every-ten")
