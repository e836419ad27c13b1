"""Testing code that sends sqsq tasks: no AWS, no private attributes.

Three modes, each a context manager that swaps the app's backends through :meth:`sqsq.App.using` and restores
the app's configuration on exit:

==========================  =================================================================================
``eager(app)``              tasks run when sent, in the sending thread, through the worker's executor: same
                            validation, signing, retries (at once, up to the task's attempts), FAILURE records
                            and dead letters; ``handle.get()`` returns the value. Fastest; for unit tests.
``in_memory(app)``          sends are queued on the in-memory SQS twin (each queue with its DLQ and redrive
                            policy); ``env.drain()`` runs a real :class:`sqsq.worker.Worker` until the queues are
                            empty. For tests of retries, redrive and worker behaviour.
``local_aws(app)``          fresh queues and a results table on the embedded local AWS (moto server over HTTP;
                            ``sqsq[local]``). For integration tests, e.g. of a worker run as a subprocess.
==========================  =================================================================================

The pytest plugin (:mod:`sqsq.testing.pytest_plugin`, loaded automatically when sqsq is installed) gives the same
as fixtures: ``sqsq_eager``, ``sqsq_in_memory``, ``sqsq_local_aws``, all for the app of the ``sqsq_app`` fixture
(override it in your ``conftest.py``) or of the ``sqsq_app`` ini option (``module:attribute``).

Example:
    >>> from sqsq.testing import eager, in_memory       # doctest: +SKIP
    >>> with eager(app) as env:
    ...     assert sqsq.send(add, {"x": 1, "y": 2}).get() == 3
    >>> with in_memory(app) as env:
    ...     h = sqsq.send(add, {"x": 1, "y": 2})
    ...     env.drain()
    ...     assert h.get() == 3 and env.dead_letters() == []

The names are imported on first use, so importing this package (as the pytest plugin does in every pytest run)
imports neither the worker nor boto3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqsq.testing._eager import EagerEnv, EagerTransport, eager
    from sqsq.testing._env import MemoryEnv, create_app_queues
    from sqsq.testing._in_memory import DrainTimeout, InMemoryEnv, InMemoryTransport, in_memory
    from sqsq.testing._local_aws import LocalAwsEnv, local_aws

_WHERE = {
    "EagerEnv": "_eager", "EagerTransport": "_eager", "eager": "_eager",
    "MemoryEnv": "_env", "create_app_queues": "_env",
    "DrainTimeout": "_in_memory", "InMemoryEnv": "_in_memory", "InMemoryTransport": "_in_memory", "in_memory": "_in_memory",
    "LocalAwsEnv": "_local_aws", "local_aws": "_local_aws",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'sqsq.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(f"sqsq.testing.{module}"), name)


__all__ = [
    "DrainTimeout",
    "EagerEnv",
    "EagerTransport",
    "InMemoryEnv",
    "InMemoryTransport",
    "LocalAwsEnv",
    "MemoryEnv",
    "create_app_queues",
    "eager",
    "in_memory",
    "local_aws",
]
