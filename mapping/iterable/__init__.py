"""Iterable API access: the HTTP client, its typed results and its errors.

The local sandbox server lives in `mapping.iterable.sandbox` and is deliberately not imported
here: the library talks to it over HTTP like to Iterable itself.
"""

from mapping.iterable.client import (
    DEFAULT_TIMEOUT_SECONDS,
    EU_BASE_URL,
    REGION_BASE_URLS,
    US_BASE_URL,
    IterableClient,
    forget_readable_keys,
    key_fingerprint,
)
from mapping.iterable.errors import (
    BadApiKeyError,
    BatchRejectedError,
    FatalError,
    FieldTypeError,
    FieldTypesMismatchError,
    ForbiddenError,
    InvalidListError,
    IterableError,
    NetworkError,
    RateLimitError,
    RequestRejectedError,
    RetryableError,
    ServerError,
    UnexpectedResponseError,
    WriteNotAllowedError,
)
from mapping.iterable.models import (
    FAILURE_REASONS,
    ApiResponse,
    BulkUpdateResult,
    FailedUpdates,
    FailureReason,
    IterableList,
)

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "EU_BASE_URL",
    "FAILURE_REASONS",
    "REGION_BASE_URLS",
    "US_BASE_URL",
    "ApiResponse",
    "BadApiKeyError",
    "BatchRejectedError",
    "BulkUpdateResult",
    "FailedUpdates",
    "FailureReason",
    "FatalError",
    "FieldTypeError",
    "FieldTypesMismatchError",
    "ForbiddenError",
    "InvalidListError",
    "IterableClient",
    "IterableError",
    "IterableList",
    "NetworkError",
    "RateLimitError",
    "RequestRejectedError",
    "RetryableError",
    "ServerError",
    "UnexpectedResponseError",
    "WriteNotAllowedError",
    "forget_readable_keys",
    "key_fingerprint",
]
