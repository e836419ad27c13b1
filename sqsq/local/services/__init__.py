"""The services of the local AWS, each one job: its moto patches, its ``/_sqsq/...`` endpoints, its request hook.

* :class:`RequestCounter`: counts every AWS request by ``service:Action`` (``/_sqsq/requests``);
* :class:`FaultInjector`: fails a share of requests with throttles, 500s, dropped connections (``/_sqsq/faults``);
* :class:`SqsService`: moto's SQS, safe under concurrent consumers and fast at depth;
* :class:`DynamoDbService`: moto's DynamoDB, locked per table and per item so conditional writes stay atomic;
* :class:`ClockService`: the controllable clock of SQS delays and the scheduler (``/_sqsq/clock``);
* :class:`SchedulerService`: fires the EventBridge Scheduler schedules moto stores (issue 12);
* :class:`DynamoDbIndexQuery`: GSI Queries that do not compare and sort the whole table (the dashboard's index);
* :class:`MotoDispatch`: moto's request dispatch without the lookups it repeats per request.

A new service (EventBridge Scheduler with a controllable clock, S3, ...) is a :class:`LocalService` subclass in
its own module, added to :func:`default_services`; the middleware routes its endpoints and calls its hook, and
its patches are checked against the moto version it names before any patch is applied.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqsq.local.services.base import AwsRequest, ControlHandler, LocalService
from sqsq.local.services.clock import ClockService
from sqsq.local.services.counter import RequestCounter
from sqsq.local.services.dispatch import MotoDispatch
from sqsq.local.services.dynamodb import DynamoDbService
from sqsq.local.services.dynamodb_index import DynamoDbIndexQuery
from sqsq.local.services.faults import FAULT_KINDS, FaultInjector
from sqsq.local.services.moto_version import SUPPORTED_MOTO_VERSION, check_moto_version
from sqsq.local.services.scheduler import SchedulerService
from sqsq.local.services.sqs import SqsService

__all__ = [
    "FAULT_KINDS",
    "SUPPORTED_MOTO_VERSION",
    "AwsRequest",
    "ClockService",
    "ControlHandler",
    "DynamoDbIndexQuery",
    "DynamoDbService",
    "FaultInjector",
    "LocalService",
    "MotoDispatch",
    "RequestCounter",
    "SchedulerService",
    "SqsService",
    "apply_patches",
    "default_services",
]


def default_services() -> list[LocalService]:
    """Fresh instances of every service, in the order they see a request: the counter first (so faulted
    requests are counted), then the fault injector, then the services that patch moto.

    Returns:
        ``[RequestCounter(), FaultInjector(), SqsService(), DynamoDbService(), DynamoDbIndexQuery(), ClockService(),
        SchedulerService(), MotoDispatch()]``.
    """
    return [
        RequestCounter(), FaultInjector(), SqsService(), DynamoDbService(), DynamoDbIndexQuery(), ClockService(),
        SchedulerService(), MotoDispatch(),
    ]


def apply_patches(services: Iterable[LocalService] | None = None) -> None:
    """Check the installed moto against every service's patches, then apply them in this process.

    Idempotent: a service already patched is left alone. Only moto's classes (and the SQS model's clock) are
    touched; nothing in site-packages is edited.

    Args:
        services: the services to patch; default :func:`default_services`.

    Raises:
        MotoVersionMismatch: the installed moto is not the version a service's patches were written for; nothing
            is patched.

    Example:
        >>> apply_patches()  # before moto serves its first request
    """
    chosen = list(services) if services is not None else default_services()
    check_moto_version(chosen)
    for service in chosen:
        service.patch()
