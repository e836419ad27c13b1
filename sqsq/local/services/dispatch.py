"""moto's request dispatch in the local AWS, without the work it repeats on every request.

Two answers moto 5.2.5's server computes anew for each request, though they depend only on what it is asked:

* which backend serves a host: ``DomainDispatcherApplication.get_backend_for_host`` lists moto's package
  directory (``os.listdir`` plus an ``isdir`` per entry, some 250 of them for an SQS host) and then tries every
  backend's URL patterns, under the dispatcher's one lock. Its answer depends only on the host and on moto's
  installed files, so it is remembered per host;
* which actions a response class has: ``BaseResponse.call_action`` asks ``method_names_from_class`` (an
  ``inspect.getmembers`` walk of the class) on every request. It is remembered per class (the local AWS patches
  moto's classes before it serves, and only replaces methods).

* the snake_case name of a CamelCase one: ``camelcase_to_underscores`` walks the name character by character,
  per request for the action and, in SQS, some 14 times per message sent (``Queue.attributes``). It is a pure
  function of its argument, so its answers are remembered (up to :data:`CAMELCASE_CACHE_SIZE` names), in the
  moto modules loaded when the service patches (those of SQS, DynamoDB and the core).

Together about a sixth of the server's CPU per DynamoDB request. Nothing else about dispatch changes.

Private moto internals this relies on (checked against moto 5.2.5): ``DomainDispatcherApplication
.get_backend_for_host``, the name ``method_names_from_class`` in ``moto.core.responses`` and the module-level
name ``camelcase_to_underscores`` (from ``moto.core.utils``) in moto's modules.
"""

from __future__ import annotations

import functools
import sys
import threading
from typing import Any, ClassVar

from sqsq.local.services.base import LocalService
from sqsq.local.services.moto_version import SUPPORTED_MOTO_VERSION

__all__ = ["CAMELCASE_CACHE_SIZE", "MotoDispatch"]

CAMELCASE_CACHE_SIZE = 4096
"""Distinct names whose snake_case form is remembered (least recently used ones are forgotten)."""

_patch_lock = threading.Lock()
_PATCHED_MARK = "_sqsq_dispatch_cached"


class MotoDispatch(LocalService):
    """moto's dispatch, with the backend of each host and the actions of each class remembered."""

    name: ClassVar[str] = "dispatch"
    moto_version: ClassVar[str | None] = SUPPORTED_MOTO_VERSION

    def patch(self) -> None:
        """Remember moto's per-host backend and per-class action names in this process. Idempotent."""
        import moto.core.responses as responses
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        with _patch_lock:
            if getattr(DomainDispatcherApplication, _PATCHED_MARK, False):
                return
            backend_for_host = DomainDispatcherApplication.get_backend_for_host
            backends: dict[str | None, Any] = {}

            def get_backend_for_host(self: Any, host: str | None) -> Any:
                try:
                    return backends[host]
                except KeyError:
                    backend = backends[host] = backend_for_host(self, host)
                    return backend

            method_names_from_class = getattr(responses, "method_names_from_class")  # noqa: B009 - not re-exported
            names: dict[type, list[str]] = {}

            def cached_method_names(clazz: Any) -> list[str]:
                found = names.get(clazz)
                if found is None:
                    found = names[clazz] = method_names_from_class(clazz)
                return found

            _remember_snake_case()
            setattr(DomainDispatcherApplication, "get_backend_for_host", get_backend_for_host)  # noqa: B010
            setattr(responses, "method_names_from_class", cached_method_names)  # noqa: B010
            setattr(DomainDispatcherApplication, _PATCHED_MARK, True)


def _remember_snake_case() -> None:
    """Replace ``camelcase_to_underscores`` by a remembering one in every moto module loaded that uses it."""
    import moto.core.responses
    import moto.core.utils as core_utils
    import moto.dynamodb.responses
    import moto.sqs.models  # noqa: F401 - loaded, so that its reference is replaced too

    original = core_utils.camelcase_to_underscores
    if hasattr(original, "__wrapped__"):
        return  # already remembering
    remembered = functools.lru_cache(maxsize=CAMELCASE_CACHE_SIZE)(original)

    @functools.wraps(original)  # __wrapped__ is moto's
    def camelcase_to_underscores(argument: Any) -> Any:
        try:
            return remembered(argument)
        except TypeError:  # unhashable: as moto
            return original(argument)

    for name, module in list(sys.modules.items()):
        if (name == "moto" or name.startswith("moto.")) and getattr(module, "camelcase_to_underscores", None) is original:
            setattr(module, "camelcase_to_underscores", camelcase_to_underscores)  # noqa: B010
