"""The dashboard's pages: one module each, with a FastAPI ``router`` (the HTML page and its JSON twin under
``/api``) and a ``NAV`` entry (title, path), or ``NAV = None`` for pages outside the bar.

Adding a page (scheduled tasks, issue 12; workflows, issue 13): write ``sqsq/dashboard/pages/<name>.py`` with
``router`` and ``NAV``, a template ``templates/<name>.html`` extending ``base.html`` (its ``live`` block is what
refreshes), and add the module's name to :data:`PAGES`.
"""

from __future__ import annotations

PAGES = ("queues", "tasks", "workflows", "failures", "workers")
"""Page modules in navigation order."""
