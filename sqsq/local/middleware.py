"""The WSGI middleware in front of moto that composes the local AWS's services.

Every AWS request is classified (:class:`sqsq.local.services.AwsRequest`) and shown to each service's
:meth:`~sqsq.local.services.LocalService.on_request` in order (the counter counts it, the fault injector may answer
it); the first answer wins, else moto serves it. Requests to ``/_sqsq/...`` go to the service that registered
that method and path, and never reach moto.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from sqsq.local.services import AwsRequest, ControlHandler, LocalService, default_services
from sqsq.local.services.base import json_response, read_body

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["AwsRequestMiddleware"]


class AwsRequestMiddleware:
    """WSGI middleware in front of moto: the services' request hooks and control endpoints.

    With the default services it counts requests by ``service:Action`` and injects faults. Every AWS request that
    reaches the server is counted, including those a fault answers (so a client's retries show).

    Args:
        app: moto's WSGI application.
        services: the services, in the order their hooks run; default
            :func:`sqsq.local.services.default_services` (patches are not applied here, see ``apply_patches``).

    Raises:
        ValueError: two services register the same endpoint.
    """

    classify = staticmethod(AwsRequest.classify)

    def __init__(self, app: WSGIApplication, services: Sequence[LocalService] | None = None) -> None:
        self._app = app
        self.services: tuple[LocalService, ...] = tuple(services if services is not None else default_services())
        self._routes: dict[tuple[str, str], ControlHandler] = {}
        for service in self.services:
            for route, handler in service.endpoints().items():
                if route in self._routes:
                    raise ValueError(f"{route[0]} {route[1]} is registered twice (again by {service.name})")
                self._routes[route] = handler

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sqsq/"):
            method = environ.get("REQUEST_METHOD", "GET")
            handler = self._routes.get((method, path))
            if handler is None:
                payload = {"error": f"no {method} {path}; see sqsq.local.server's docstring"}
                return json_response(start_response, "404 Not Found", payload)
            status, payload = handler(read_body(environ))
            return json_response(start_response, status, payload)

        request = AwsRequest.from_environ(environ)
        for service in self.services:
            answer = service.on_request(request, start_response)
            if answer is not None:
                return answer
        response = self._app(environ, start_response)
        try:
            body = b"".join(response)  # moto's responses are built in memory: measuring them costs a join
        finally:
            close = getattr(response, "close", None)
            if close is not None:
                close()
        for service in self.services:
            service.on_response(request, len(body))
        return [body]
