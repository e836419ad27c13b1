"""AWS quotas sqsq checks itself, as named constants with units and their documentation.

moto accepts some requests real AWS rejects, so these are checked before any network call.
"""

from __future__ import annotations

# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
SQS_MAX_BATCH_ENTRIES = 10
"""Entries per SendMessageBatch / DeleteMessageBatch / ChangeMessageVisibilityBatch request."""
SQS_MAX_RECEIVE_MESSAGES = 10
"""MaxNumberOfMessages per ReceiveMessage."""
SQS_MAX_WAIT_TIME_SECONDS = 20
"""Longest long poll (WaitTimeSeconds)."""
SQS_MAX_DELAY_SECONDS = 900
"""Longest per-message DelaySeconds (15 minutes)."""
SQS_MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200
"""Longest visibility timeout, counted from the receive (12 hours)."""
# -- EventBridge Scheduler (issue 12: delays and ETAs past SQS's 900 s) --
# https://docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html
SCHEDULER_MAX_DELAY_SECONDS = 365 * 86_400
"""Longest delay (or ETA ahead of now) sqsq accepts: 365 days, sent through a one-time EventBridge schedule."""
SCHEDULER_AT_GRANULARITY_SECONDS = 60
"""``at(...)`` schedules fire at whole minutes (the expression has seconds, but EventBridge fires per minute)."""
SCHEDULER_MAX_SCHEDULES_PER_REGION = 10_000_000
"""Default quota of schedules per account and Region."""
SCHEDULER_NAME_MAX_CHARS = 64
"""Longest schedule name (1-64 of ``[0-9a-zA-Z-_.]``)."""
SQS_DEFAULT_MAX_MESSAGE_SIZE_BYTES = 262_144
"""The MaximumMessageSize sqsq falls back to only when a queue does not report the attribute (moto 5.2.5 still gives
new queues this; AWS raised its queues to 1 MiB in 2025). sqsq reads each queue's own attribute and provisions
:data:`SQS_MAX_MESSAGE_SIZE_BYTES`; nothing else assumes this figure."""
SQS_MAX_MESSAGE_SIZE_BYTES = 1_048_576
"""Largest MaximumMessageSize a queue may be given (1 MiB since 2025)."""
SQS_MAX_MESSAGE_ATTRIBUTES = 10
"""Message attributes per message. sqsq sets one itself, ``ExtendedPayloadSize``, on a message whose body it
offloaded to S3 (:mod:`sqsq.payloads`); the rest of its metadata lives in the JSON envelope."""
SQS_PURGE_INTERVAL_SECONDS = 60
"""One PurgeQueue per queue per 60 s."""

# FIFO queues and fair queues (issue 14):
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-fifo.html,
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html
SQS_FIFO_SUFFIX = ".fifo"
"""A FIFO queue's name ends with it; the suffix counts toward the 80-character name limit."""
SQS_MAX_MESSAGE_GROUP_ID_LENGTH = 128
"""Longest MessageGroupId (alphanumeric characters and punctuation)."""
SQS_MAX_DEDUPLICATION_ID_LENGTH = 128
"""Longest MessageDeduplicationId (alphanumeric characters and punctuation)."""
SQS_DEDUPLICATION_INTERVAL_SECONDS = 300
"""A FIFO queue drops a message whose MessageDeduplicationId it accepted within the last 5 minutes."""
SQS_FIFO_TPS_PER_ACTION = 300
"""FIFO requests per second per API action (Send/Receive/DeleteMessage), without high throughput mode."""
SQS_FIFO_BATCHED_MESSAGES_PER_SECOND = 3_000
"""FIFO messages per second per API action when batched by 10, without high throughput mode."""
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/upload-objects.html
S3_MAX_PUT_BYTES = 5 * 1024**3
"""Largest object one PutObject request may upload (5 GB): the limit of an offloaded body or result."""

# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html
DYNAMODB_MAX_ITEM_SIZE_BYTES = 400 * 1024
"""Largest DynamoDB item, names and values included."""
DYNAMODB_RESULT_SIZE_BUDGET_BYTES = DYNAMODB_MAX_ITEM_SIZE_BYTES - 16 * 1024
"""Bytes a result's JSON may take inline; the rest of the item (error, names, timestamps) fits in 16 KB. A larger
result is stored in S3 when a payload bucket is set (:mod:`sqsq.payloads`), else refused (ResultTooLarge)."""

# https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html
LAMBDA_VISIBILITY_TIMEOUT_FACTOR = 6
"""AWS guidance: queue visibility timeout >= 6 x function timeout + batching window."""

# https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
LAMBDA_MAX_TIMEOUT_SECONDS = 900
"""Longest a Lambda invocation may run."""
LAMBDA_MIN_MEMORY_MB = 128
"""Smallest function MemorySize."""
LAMBDA_MAX_MEMORY_MB = 10_240
"""Largest function MemorySize."""
# https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html
SQS_EVENT_MAX_BATCH_SIZE_WITHOUT_WINDOW = 10
"""Largest SQS event BatchSize without a batching window (up to 10,000 with one)."""
SQS_EVENT_MAX_BATCHING_WINDOW_SECONDS = 300
"""Longest MaximumBatchingWindowInSeconds."""
SQS_EVENT_MIN_MAXIMUM_CONCURRENCY = 2
"""Smallest ScalingConfig.MaximumConcurrency AWS accepts."""
SQS_EVENT_MAX_MAXIMUM_CONCURRENCY = 1000
"""Largest ScalingConfig.MaximumConcurrency AWS accepts."""
