"""AWS SDK plumbing shared by the AWS adapters: client construction and error translation.

Clients come from botocore (what boto3 wraps), which honours AWS_ENDPOINT_URL itself, so the same code runs against
AWS and an emulator (moto)."""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, Literal, overload

from gcevents.errors import ConfigError, GcEventsError, StoreUnavailableError, TransientError
from gcevents.retry import SDK_MAX_ATTEMPTS

if TYPE_CHECKING:  # boto3-stubs (dev only): nothing of it is imported at run time
    from botocore.client import BaseClient
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sqs import SQSClient

_TRANSIENT_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "InternalFailure",
        "TransactionConflictException",
        "LimitExceededException",
        "Throttling",
        "RequestThrottled",
        "KMS.ThrottlingException",
        "AWS.SimpleQueueService.RequestThrottled",
    }
)
_CONFIG_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "ValidationException",
    }
)


@overload
def make_client(
    service: Literal["dynamodb"],
    *,
    max_pool_connections: int = ...,
    read_timeout: float = ...,
    region_name: str | None = ...,
) -> DynamoDBClient: ...
@overload
def make_client(
    service: Literal["sqs"],
    *,
    max_pool_connections: int = ...,
    read_timeout: float = ...,
    region_name: str | None = ...,
) -> SQSClient: ...
@overload
def make_client(
    service: Literal["secretsmanager"],
    *,
    max_pool_connections: int = ...,
    read_timeout: float = ...,
    region_name: str | None = ...,
) -> SecretsManagerClient: ...
@overload
def make_client(
    service: str, *, max_pool_connections: int = ..., read_timeout: float = ..., region_name: str | None = ...
) -> Any: ...
def make_client(
    service: str, *, max_pool_connections: int = 32, read_timeout: float = 10.0, region_name: str | None = None
) -> BaseClient:
    """The one place that builds AWS clients. Tuned for Lambda: short timeouts (a hung call must not eat the
    invocation), a pool as large as our thread fan-out, and botocore's standard retry mode for throttles and
    5xx with SDK_MAX_ATTEMPTS attempts per call (counted in the bounds of `gcevents.retry`).

    No client-side parameter validation: botocore would walk every request against the service model, ~12 % of the
    client CPU of a state write (docs/benchmarks.md), to re-check what our typed request builders (mypy against the
    boto3 stubs) already guarantee; a malformed request still fails, as the service's ValidationException."""
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": SDK_MAX_ATTEMPTS},
        connect_timeout=3,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
        parameter_validation=False,
    )
    # `service` is any str here: the overloads above give callers the typed client.
    boto3 = sys.modules.get("boto3")
    default = getattr(boto3, "DEFAULT_SESSION", None) if boto3 is not None else None
    if default is not None:
        # Someone set up boto3's default session in this process (a handler module, a test bootstrap): its settings
        # and event hooks apply to our clients as they did when we called `boto3.client`.
        client: BaseClient = default.client(service, region_name=region_name, config=config)
        return client
    client = _session().create_client(service, region_name=region_name, config=config)
    return client


_SESSION: list[Any] = []  # the botocore session of this process, made on first use
_SESSION_LOCK = threading.Lock()


def _session() -> Any:
    """One botocore session per process, as `boto3.client` keeps one: its loader caches the service models, so the
    second client of a service does not parse them again. botocore, not boto3: the clients are the same, and a cold
    start does not import boto3 and its s3transfer (~15 ms of CPU, docs/benchmarks.md). It honours the same
    environment (credentials, region, AWS_ENDPOINT_URL)."""
    with _SESSION_LOCK:
        if not _SESSION:
            import botocore.session

            _SESSION.append(botocore.session.get_session())
        return _SESSION[0]


def error_response(exc: BaseException) -> dict[str, Any]:
    """The parsed error body of a ClientError; {} for errors without one (a ReadTimeoutError's is None)."""
    response = getattr(exc, "response", None)
    return response if isinstance(response, dict) else {}


def error_code(exc: BaseException) -> str | None:
    code = error_response(exc).get("Error", {}).get("Code")
    return code if isinstance(code, str) else None


def translate(exc: Exception, what: str) -> GcEventsError:
    """Map a botocore exception to our family. Unknown errors are transient: retrying is the safe default."""
    from botocore.exceptions import BotoCoreError, ClientError

    if isinstance(exc, GcEventsError):
        return exc
    if isinstance(exc, ClientError):
        code = error_code(exc) or "Unknown"
        if code in _CONFIG_CODES:
            return ConfigError(f"{what}: {code}: {exc.response.get('Error', {}).get('Message', '')}")
        if code in _TRANSIENT_CODES:
            return StoreUnavailableError(f"{what}: {code}")
        return TransientError(f"{what}: {code}")
    if isinstance(exc, BotoCoreError):  # connection errors, timeouts
        return StoreUnavailableError(f"{what}: {type(exc).__name__}")
    return TransientError(f"{what}: {type(exc).__name__}: {exc}")
