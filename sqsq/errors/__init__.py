"""The sqsq exception tree. Every error sqsq raises derives from :class:`SqsqError`.

```
SqsqError
├── ConfigError                 settings missing or malformed (unknown SQSQ_* key, bad value)
│   ├── MissingExtra            an optional dependency is not installed (names the `pip install` to run)
│   ├── MotoVersionMismatch     the installed moto is not the one the local AWS's patches were written for
│   └── ScheduleExpressionError a periodic task's cron/rate text or time zone is invalid (names the offending text)
├── ValidationError             task arguments (or a return value) do not match the task's schema
│   ├── ResultNotReadable       a return value would not come back from get() as returned
│   └── SendOptionError         a send's options (message group, tenant, eta, attributes) are wrong, not its arguments
├── TaskNotRegistered           no task under that name in the app
├── LimitExceeded               an SQS/DynamoDB quota would be broken (checked before any I/O)
│   ├── PayloadTooLarge         message body over the queue's MaximumMessageSize
│   └── ResultTooLarge          result over DynamoDB's 400 KB item size
├── MessageDecodeError          a message body is not a sqsq envelope this version understands
│   ├── PayloadMissing          the S3 object an offloaded message or result points to is gone
│   └── PayloadRefused          a pointer names another bucket, or an object over payload_max_read_mb
├── SignatureError              a message failed signature verification (signing on: it never runs)
│   ├── SignatureMissing        the message carries no signature
│   ├── SignatureKeyUnknown     signed with a key id none of the configured keys has
│   └── SignatureInvalid        the signature does not match the message (tampered or forged)
├── TaskIdConflict              a task id holds the record of a different message (a forged or colliding id)
├── AwsError                    an AWS call failed after botocore's retries (keeps the AWS error code)
│   ├── QueueNotFound           the queue does not exist at that endpoint/region
│   ├── ResultsTableNotFound    the results table does not exist at that endpoint/region
│   ├── EndpointUnreachable     nothing answers at the endpoint
│   ├── SendFailed              some entries of a send were rejected (lists them)
│   └── PurgeInProgress         a PurgeQueue within 60 s of the last one (says when to retry)
├── TaskFailed                  the task ended in FAILURE (remote error type and message)
│   └── TaskRevoked             the task was cancelled or revoked before it ran (record REVOKED)
├── ResultTimeout               the result was not final within the timeout
├── Retry                       raised by a task to ask for a retry after delay_seconds
├── AttemptLost                 an attempt ended without the task's own outcome (its process died): always retried
├── TimeLimitExceeded           a run went past its task's time_limit_seconds (stopped where the pool allows)
├── LocalServerError            the embedded local AWS could not start
├── LocalInvocationFailed       a built function failed in the local Lambda runtime (keeps Lambda's errorType)
│   └── LocalInvocationTimedOut the invocation overran the function's Timeout; its process was killed
└── ChildProcessDied            a process-pool child died mid-task (sqsq.pools.process; an AttemptLost)
```

Every message says what went wrong and what to do about it.
"""

from __future__ import annotations

from sqsq.errors.aws import (
    AwsError,
    EndpointUnreachable,
    PurgeInProgress,
    QueueNotFound,
    ResultsTableNotFound,
    SendFailed,
)
from sqsq.errors.base import (
    ConfigError,
    MissingExtra,
    MotoVersionMismatch,
    ScheduleExpressionError,
    SqsqError,
)
from sqsq.errors.data import (
    LimitExceeded,
    MessageDecodeError,
    PayloadMissing,
    PayloadRefused,
    PayloadTooLarge,
    ResultNotReadable,
    ResultTooLarge,
    SendOptionError,
    SignatureError,
    SignatureInvalid,
    SignatureKeyUnknown,
    SignatureMissing,
    TaskIdConflict,
    TaskNotRegistered,
    ValidationError,
    WorkflowTooLarge,
    describe_errors,
)
from sqsq.errors.running import (
    AttemptLost,
    LocalInvocationFailed,
    LocalInvocationTimedOut,
    LocalServerError,
    ResultTimeout,
    Retry,
    TaskFailed,
    TaskRevoked,
    TimeLimitExceeded,
    WorkflowError,
)

__all__ = [
    "AttemptLost",
    "AwsError",
    "ConfigError",
    "EndpointUnreachable",
    "LimitExceeded",
    "LocalInvocationFailed",
    "LocalInvocationTimedOut",
    "LocalServerError",
    "MessageDecodeError",
    "MissingExtra",
    "MotoVersionMismatch",
    "PayloadMissing",
    "PayloadRefused",
    "PayloadTooLarge",
    "PurgeInProgress",
    "QueueNotFound",
    "ResultNotReadable",
    "ResultTimeout",
    "ResultTooLarge",
    "ResultsTableNotFound",
    "Retry",
    "ScheduleExpressionError",
    "SendFailed",
    "SendOptionError",
    "SignatureError",
    "SignatureInvalid",
    "SignatureKeyUnknown",
    "SignatureMissing",
    "SqsqError",
    "TaskFailed",
    "TaskIdConflict",
    "TaskNotRegistered",
    "TaskRevoked",
    "TimeLimitExceeded",
    "ValidationError",
    "WorkflowError",
    "WorkflowTooLarge",
    "describe_errors",
]

# Each class is defined in a submodule by area but belongs to sqsq.errors: tracebacks, reprs and pickles name it
# sqsq.errors.X, as before the split (httpx does the same for its public names).
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type):
        _obj.__module__ = __name__
del _name, _obj
