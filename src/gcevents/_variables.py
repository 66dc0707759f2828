"""Every environment variable gcevents reads: name, default, parser and meaning, in one declarative table.

`gcevents.config` resolves them (and is the only module that touches `os.environ`); the README's configuration
table is this table rendered (`gcevents config`), and a test keeps the two in agreement.

One rule for every variable: unset, empty and whitespace-only are the same thing, the default. Values are
stripped, except secrets, which are taken as given."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from gcevents.errors import ConfigError

T = TypeVar("T")

DEFAULT_DB = ".gcevents/gcevents.db"
CLAIM_MODES = ("per_key", "transaction")
TRACING_MODES = ("otel", "xray", "off")
IDEMPOTENCY_KINDS = ("dynamodb", "sqlite", "memory")
STATE_KINDS = ("dynamodb", "sqlite", "memory", "off")
DEAD_LETTER_KINDS = ("sqs", "sqlite", "memory")
BUDGET_SCOPES = ("token", "shared")
LAMBDA_MARKER = "AWS_LAMBDA_FUNCTION_NAME"  # set by the Lambda runtime; not ours to document
# Set by Lambda with active tracing (not ours to document either): the daemon's address, and the invocation's
# trace header, which changes with every invocation and is therefore read when a span starts.
XRAY_DAEMON_ADDRESS = "AWS_XRAY_DAEMON_ADDRESS"
XRAY_TRACE_HEADER = "_X_AMZN_TRACE_ID"


def raw_value(env: Mapping[str, str], name: str) -> str | None:
    """The variable's text, or None when it is unset, empty or only whitespace."""
    value = env.get(name)
    return value if value is not None and value.strip() else None


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """`dynamodb:TABLE`, `sqlite:PATH`, `sqs:URL`, `memory` or `off`."""

    kind: str
    target: str = ""

    @classmethod
    def parse(cls, text: str, *, allowed: tuple[str, ...]) -> StoreSpec:
        """Raises ValueError (the resolver adds the variable's name) for unknown kinds and missing targets."""
        kind, _, target = text.strip().partition(":")
        if kind not in allowed:
            expected = (k if k in ("memory", "off") else f"{k}:..." for k in allowed)
            raise ValueError(f"expected one of {', '.join(expected)}")
        if kind not in ("memory", "off") and not target:
            raise ValueError(f"{kind} needs a target after the colon")
        return cls(kind, target)

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


@dataclass(frozen=True, slots=True)
class Variable(Generic[T]):
    name: str
    default: T
    parse: Callable[[str], T]
    meaning: str  # one line, Markdown
    shown_default: str | None = None  # what the README shows when the default is not a plain value
    secret: bool = False  # never echoed, not even in an error message; not stripped

    def read(self, env: Mapping[str, str]) -> T:
        raw = raw_value(env, self.name)
        if raw is None:
            return self.default
        try:
            return self.parse(raw if self.secret else raw.strip())
        except ValueError as exc:
            shown = "'********'" if self.secret else repr(raw)
            raise ConfigError(f"{self.name}={shown}: {exc}") from exc

    def default_cell(self) -> str:
        """The README's default column: Markdown."""
        if self.shown_default is not None:
            return self.shown_default
        text = _plain(self.default)
        return f"`{text}`" if text else ""

    def row(self) -> str:
        return f"| `{self.name}` | {self.default_cell()} | {self.meaning} |"


def _plain(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, tuple | frozenset | set):
        return ",".join(sorted(str(v) for v in value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ------------------------------------------------------------------------------------------------- parsers
def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError("not an integer") from None


def number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("not a number") from None


def string(text: str) -> str:
    return text


def csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def csv_set(text: str) -> frozenset[str]:
    return frozenset(csv(text))


def rate_override(text: str) -> int | None:
    """Requests/min; 0 means none (adaptive pacing), as unset does."""
    value = integer(text)
    if value < 0:
        raise ValueError("must be 0 (adaptive) or a positive number of requests per minute")
    return value or None


def fraction(text: str) -> float:
    value = number(text)
    if not 0 < value <= 1:
        raise ValueError("must be within (0, 1]")
    return value


def choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return text

    return parse


# Lambda's application log levels (`LoggingConfig: ApplicationLogLevel`) and Python's, as Python names them.
_LOG_LEVELS = {
    "TRACE": "DEBUG",
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARN": "WARNING",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "FATAL": "CRITICAL",
    "CRITICAL": "CRITICAL",
}


def log_level(text: str) -> str:
    """A Python level name from Lambda's or Python's (`TRACE` is Python's `DEBUG`, `FATAL` its `CRITICAL`)."""
    level = _LOG_LEVELS.get(text.upper())
    if level is None:
        raise ValueError("expected one of TRACE, DEBUG, INFO, WARN(ING), ERROR, FATAL or CRITICAL")
    return level


def store(*kinds: str) -> Callable[[str], StoreSpec]:
    def parse(text: str) -> StoreSpec:
        return StoreSpec.parse(text, allowed=kinds)

    return parse


# ------------------------------------------------------------------------------------------------- sinks
SINK_KINDS = ("webhook", "eventbridge", "firehose")
DERIVED_SELECTORS = {
    "completed": ("conversation.completed",),
    "updated": ("conversation.updated",),
    "derived": ("conversation.completed", "conversation.updated"),
    "conversation.completed": ("conversation.completed",),
    "conversation.updated": ("conversation.updated",),
}
_TOPIC_PATTERN = re.compile(r"[A-Za-z0-9_\-]+(\.([A-Za-z0-9_\-]+|\{[A-Za-z]*\}|\*))*(\.\*)?|\*")
_BUS = re.compile(
    r"[A-Za-z0-9._\-/]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._\-/]{1,256}"
)
_STREAM = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """One entry of GCEVENTS_SINKS: `KIND:TARGET` or `KIND:TARGET|SELECTOR,SELECTOR...`."""

    kind: str  # webhook | eventbridge | firehose
    target: str  # URL, bus name or ARN, delivery stream name
    derived: frozenset[str]  # conversation.completed / conversation.updated
    patterns: tuple[str, ...]  # raw topic patterns (`{id}` one segment, `*` anything)

    @property
    def sink_id(self) -> str:
        """Stable across deploys of the same destination; part of every delivery's idempotency key."""
        return hashlib.sha256(f"{self.kind}:{self.target}".encode()).hexdigest()[:12]

    @property
    def name(self) -> str:
        """For logs and errors: a webhook shows its host only (paths and queries may carry tokens)."""
        if self.kind == "webhook":
            return f"webhook:{urlsplit(self.target).hostname}"
        return f"{self.kind}:{self.target}"

    def __repr__(self) -> str:
        return f"SinkSpec({self.name!r}, derived={sorted(self.derived)}, patterns={list(self.patterns)})"


def sinks(text: str) -> tuple[SinkSpec, ...]:
    """`;`- or newline-separated entries. Messages name the entry by position, never echo a URL."""
    specs: list[SinkSpec] = []
    entries = [e.strip() for e in re.split(r"[;\n]", text)]
    for number, entry in enumerate((e for e in entries if e), 1):
        spec = _sink(entry, number)
        if any((s.kind, s.target) == (spec.kind, spec.target) for s in specs):
            raise ValueError(f"entry {number} ({spec.kind}) names the same destination as an earlier one")
        specs.append(spec)
    return tuple(specs)


def _sink(entry: str, number: int) -> SinkSpec:
    kind, colon, rest = entry.partition(":")
    kind = kind.strip().lower()
    if kind not in SINK_KINDS or not colon:
        raise ValueError(f"entry {number}: expected webhook:URL, eventbridge:BUS or firehose:STREAM")
    target, bar, selection = rest.rpartition("|") if "|" in rest else (rest, "", "")
    target = target.strip()
    derived: set[str] = set()
    patterns: list[str] = []
    for selector in (s.strip() for s in selection.split(",")) if bar else ():
        if selector in DERIVED_SELECTORS:
            derived.update(DERIVED_SELECTORS[selector])
        elif _TOPIC_PATTERN.fullmatch(selector):
            patterns.append(selector)
        else:
            raise ValueError(
                f"entry {number} ({kind}): selector {selector[:60]!r} is not completed, updated, derived or a topic"
                " pattern such as v2.detail.events.conversation.{id}.customer.end"
            )
    if not bar:
        derived.update(DERIVED_SELECTORS["derived"])  # no selector: the derived records only
    _check_target(kind, target, number)
    return SinkSpec(kind, target, frozenset(derived), tuple(dict.fromkeys(patterns)))


def _check_target(kind: str, target: str, number: int) -> None:
    where = f"entry {number} ({kind})"
    if kind == "webhook":
        try:
            parts = urlsplit(target)
            host = parts.hostname
        except ValueError:
            raise ValueError(f"{where}: not a URL") from None
        if parts.scheme not in ("https", "http") or not host:
            raise ValueError(f"{where}: expected an https:// URL")
        if parts.scheme == "http" and not _is_loopback(host):
            raise ValueError(f"{where}: plain http is only allowed to a loopback address (tests, demo)")
        if parts.username or parts.password:
            raise ValueError(f"{where}: credentials in the URL would travel in logs; use the signing secret")
    elif kind == "eventbridge" and not _BUS.fullmatch(target):
        raise ValueError(f"{where}: expected an event bus name or ARN")
    elif kind == "firehose" and not _STREAM.fullmatch(target):
        raise ValueError(f"{where}: expected a delivery stream name (letters, digits, _ . -, up to 64)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# ------------------------------------------------------------------------------------------------- the table
_STORE_DEFAULT = "`sqlite:$GCEVENTS_DB` (required in Lambda)"

# fmt: off
GCEVENTS_IDEMPOTENCY_STORE: Variable[StoreSpec | None] = Variable(
    "GCEVENTS_IDEMPOTENCY_STORE", None, store(*IDEMPOTENCY_KINDS),
    "`dynamodb:TABLE`, `sqlite:PATH` or `memory`: idempotency claims", _STORE_DEFAULT)
GCEVENTS_STATE_STORE: Variable[StoreSpec | None] = Variable(
    "GCEVENTS_STATE_STORE", None, store(*STATE_KINDS),
    "`dynamodb:TABLE`, `sqlite:PATH`, `memory` or `off`: conversation state items", _STORE_DEFAULT)
GCEVENTS_DLQ: Variable[StoreSpec | None] = Variable(
    "GCEVENTS_DLQ", None, store(*DEAD_LETTER_KINDS),
    "`sqs:QUEUE_URL`, `sqlite:PATH` or `memory`: dead letters", _STORE_DEFAULT)
GCEVENTS_DB = Variable(
    "GCEVENTS_DB", DEFAULT_DB, string, "the SQLite file of the three stores above when they are unset")
GCEVENTS_ALLOWED_SOURCES: Variable[tuple[str, ...]] = Variable(
    "GCEVENTS_ALLOWED_SOURCES", (), csv,
    "comma-separated `source` prefixes, e.g. `aws.partner/genesys.com/cloud/<orgId>/`; others are dead-lettered",
    "(all)")
GCEVENTS_HANDLERS: Variable[tuple[str, ...]] = Variable(
    "GCEVENTS_HANDLERS", (), csv,
    "comma-separated `pkg.module:router` (a Router) or `pkg.module:register` (called with the router)")
GCEVENTS_ENRICH_KINDS = Variable(
    "GCEVENTS_ENRICH_KINDS", frozenset({"conversation.acw", "conversation.customer.end"}), csv_set,
    "comma-separated event kinds that get analytics details")
GCEVENTS_LAG_RETRIES = Variable(
    "GCEVENTS_LAG_RETRIES", 2, integer, "retries of an event whose conversation analytics does not know yet")
GCEVENTS_LAG_RETRY_DELAY = Variable(
    "GCEVENTS_LAG_RETRY_DELAY", 60.0, number, "seconds before such a retry")
GCEVENTS_DEADLINE_MARGIN = Variable(
    "GCEVENTS_DEADLINE_MARGIN", 5.0, number, "seconds before the deadline at which no new work starts")
GCEVENTS_HANDLER_CONCURRENCY = Variable(
    "GCEVENTS_HANDLER_CONCURRENCY", 8, integer,
    "conversations handled in parallel (the events of one conversation in order)")
GCEVENTS_FACT_KEYS_AFTER = Variable(
    "GCEVENTS_FACT_KEYS_AFTER", 600.0, number,
    "seconds after its eventTime from which a once-per-session event also claims its fact key (shared with a"
    " fact `gcevents reconcile` rebuilt); 0: always. See docs/operations.md")
GCEVENTS_IDEMPOTENCY_TTL_DAYS = Variable(
    "GCEVENTS_IDEMPOTENCY_TTL_DAYS", 5.0, number, "days a completed key is kept (re-sends within it are skipped)")
GCEVENTS_STATE_TTL_DAYS = Variable(
    "GCEVENTS_STATE_TTL_DAYS", 30, integer, "days a conversation state item is kept after its last update")
GCEVENTS_CLAIM_CONCURRENCY = Variable(
    "GCEVENTS_CLAIM_CONCURRENCY", 16, integer,
    "idempotency claims in flight at once (also sizes the boto3 connection pools)")
GCEVENTS_CLAIM_MODE = Variable(
    "GCEVENTS_CLAIM_MODE", "per_key", choice(*CLAIM_MODES),
    "`transaction`: up to 100 claims per TransactWriteItems request (fewer requests and round trips; each"
    " transactional write costs 2 WCU, and one conflicting key makes the other 99 retry once)")
GCEVENTS_CLOCK_SKEW_MARGIN = Variable(
    "GCEVENTS_CLOCK_SKEW_MARGIN", 5.0, number,
    "seconds a lapsed idempotency lease must be over (by our clock) before we take the key over: tolerated clock"
    " skew between consumers, see [docs/operations.md](docs/operations.md#leases-and-clock-skew)")
GCEVENTS_LOG_LEVEL = Variable(
    "GCEVENTS_LOG_LEVEL", "INFO", log_level,
    "`DEBUG`, `INFO`, `WARNING` or `ERROR` (JSON lines on stderr); `AWS_LAMBDA_LOG_LEVEL` and"
    " `POWERTOOLS_LOG_LEVEL` come first")
AWS_LAMBDA_LOG_LEVEL: Variable[str | None] = Variable(
    "AWS_LAMBDA_LOG_LEVEL", None, log_level,
    "set by Lambda from the function's `LoggingConfig: ApplicationLogLevel` (JSON log format): the level, first")
POWERTOOLS_LOG_LEVEL: Variable[str | None] = Variable(
    "POWERTOOLS_LOG_LEVEL", None, log_level, "the level when `AWS_LAMBDA_LOG_LEVEL` is unset (Powertools' name)")
GCEVENTS_METRICS_NAMESPACE = Variable(
    "GCEVENTS_METRICS_NAMESPACE", "gcevents", string, "CloudWatch namespace of the embedded-format metrics")
GCEVENTS_SERVICE_NAME = Variable(
    "GCEVENTS_SERVICE_NAME", "gcevents", string,
    "the `service` dimension of every metric (the template: the stack name)")
GCEVENTS_TRACING = Variable(
    "GCEVENTS_TRACING", "otel", choice(*TRACING_MODES),
    "`otel`: OpenTelemetry spans (batch, claim, enrich, handle, outputs, complete; a no-op without an SDK), `xray`:"
    " X-Ray subsegments (until 2027-02-25), `off`: none (the template's `Tracing`)")
LOG_LEVEL: Variable[str | None] = Variable(
    "LOG_LEVEL", None, log_level, "read when `GCEVENTS_LOG_LEVEL` is unset (the common name, e.g. Powertools')")
POWERTOOLS_METRICS_NAMESPACE: Variable[str | None] = Variable(
    "POWERTOOLS_METRICS_NAMESPACE", None, string, "read when `GCEVENTS_METRICS_NAMESPACE` is unset")
POWERTOOLS_SERVICE_NAME: Variable[str | None] = Variable(
    "POWERTOOLS_SERVICE_NAME", None, string, "read when `GCEVENTS_SERVICE_NAME` is unset")
GENESYS_CLIENT_ID: Variable[str | None] = Variable(
    "GENESYS_CLIENT_ID", None, string,
    "OAuth client-credentials client id, or several separated by commas (calls are spread over one token per "
    "client); unset = no enrichment")
GENESYS_CLIENT_SECRET: Variable[str | None] = Variable(
    "GENESYS_CLIENT_SECRET", None, string,
    "the client secret (or use `GENESYS_CLIENT_SECRET_ARN`, not both); with several client ids, a JSON object "
    "`{\"<id>\": \"<secret>\"}` (or `{\"clients\": {...}}`)", secret=True)
GENESYS_CLIENT_SECRET_ARN: Variable[str | None] = Variable(
    "GENESYS_CLIENT_SECRET_ARN", None, string,
    "Secrets Manager ARN of the client secret (several client ids: the same JSON), read once per container")
GENESYS_REGION: Variable[str | None] = Variable(
    "GENESYS_REGION", None, string, "region domain, e.g. `mypurecloud.ie`: `api.` and `login.` hosts derive from it")
GENESYS_DOMAIN: Variable[str | None] = Variable(
    "GENESYS_DOMAIN", None, string, "alias of `GENESYS_REGION`, read when that is unset")
GENESYS_API_BASE_URL: Variable[str | None] = Variable(
    "GENESYS_API_BASE_URL", None, string, "overrides `https://api.<region>` (simulators, proxies)")
GENESYS_LOGIN_BASE_URL: Variable[str | None] = Variable(
    "GENESYS_LOGIN_BASE_URL", None, string,
    "overrides `https://login.<region>`; the API URL when only that one is overridden")
GENESYS_BULK_CHUNK = Variable(
    "GENESYS_BULK_CHUNK", 100, integer, "conversation ids per bulk analytics call (a chunk answered 400/413 is split)")
GENESYS_RATE_PER_MINUTE: Variable[int | None] = Variable(
    "GENESYS_RATE_PER_MINUTE", None, rate_override,
    "a static override: requests/min this instance paces itself to; unset or `0`: adaptive pacing (the limits API,"
    " then AIMD on 429)", "(adaptive)")
GENESYS_API_LIMIT = Variable(
    "GENESYS_API_LIMIT", 300, integer,
    "requests/min per token assumed when the limits API (`/api/v2/organizations/limits/namespaces/...`) cannot be read")
GENESYS_BUDGET_SCOPE = Variable(
    "GENESYS_BUDGET_SCOPE", "token", choice(*BUDGET_SCOPES),
    "`token`: each container paces its own token; `shared`: one fleet-wide bucket in `GENESYS_BUDGET_TABLE`")
GENESYS_BUDGET_TABLE: Variable[str | None] = Variable(
    "GENESYS_BUDGET_TABLE", None, string, "DynamoDB table of the shared budget (required with `shared`)")
GENESYS_BUDGET_SHARE = Variable(
    "GENESYS_BUDGET_SHARE", 1.0, fraction,
    "fraction of the limit this deployment takes (lower it when other tools use the same client)")
GENESYS_MAX_CONCURRENCY = Variable(
    "GENESYS_MAX_CONCURRENCY", 4, integer, "bulk calls in flight at once, per OAuth client")
GENESYS_CONNECT_TIMEOUT = Variable(
    "GENESYS_CONNECT_TIMEOUT", 3.0, number, "seconds to connect to the Genesys API")
GENESYS_READ_TIMEOUT = Variable(
    "GENESYS_READ_TIMEOUT", 10.0, number, "seconds to wait for an answer of the Genesys API")
GENESYS_MAX_RETRIES = Variable(
    "GENESYS_MAX_RETRIES", 3, integer, "retries per request on 429, 5xx, timeouts and connection errors")
GENESYS_MAX_WAIT = Variable(
    "GENESYS_MAX_WAIT", 20.0, number, "longest wait, in seconds, for rate-limit budget inside one batch")
GCEVENTS_SINKS: Variable[tuple[SinkSpec, ...]] = Variable(
    "GCEVENTS_SINKS", (), sinks,
    "outputs without code: `;`-separated `webhook:URL`, `eventbridge:BUS`, `firehose:STREAM`, each with an"
    " optional `\\|selector,...` (`completed`, `updated`, `derived`, or raw topic patterns); none: `derived`."
    " See docs/outputs.md", secret=True)  # never echoed: webhook URLs may carry tokens
GCEVENTS_WEBHOOK_SECRET: Variable[str | None] = Variable(
    "GCEVENTS_WEBHOOK_SECRET", None, string,
    "HMAC-SHA256 key of the `X-Gcevents-Signature` header (or `GCEVENTS_WEBHOOK_SECRET_ARN`, not both)",
    secret=True)
GCEVENTS_WEBHOOK_SECRET_ARN: Variable[str | None] = Variable(
    "GCEVENTS_WEBHOOK_SECRET_ARN", None, string, "Secrets Manager ARN of the signing secret, read once per container")
GCEVENTS_WEBHOOK_TIMEOUT = Variable(
    "GCEVENTS_WEBHOOK_TIMEOUT", 10.0, number, "seconds per webhook request (never past the invocation deadline)")
GCEVENTS_WEBHOOK_CONCURRENCY = Variable(
    "GCEVENTS_WEBHOOK_CONCURRENCY", 4, integer, "requests in flight at once per webhook destination")
GCEVENTS_WEBHOOK_BREAKER = Variable(
    "GCEVENTS_WEBHOOK_BREAKER", 5, integer,
    "failed requests in a row that open a destination's circuit (records are handed back with a delay)")
GCEVENTS_WEBHOOK_BREAKER_SECONDS = Variable(
    "GCEVENTS_WEBHOOK_BREAKER_SECONDS", 30.0, number,
    "first open period of the circuit; doubles while the destination stays down, up to 900")
GCEVENTS_COMPLETION_GRACE = Variable(
    "GCEVENTS_COMPLETION_GRACE", 900.0, number,
    "seconds after a conversation ended to wait for a missing wrap-up before `conversation.completed` goes out")
GCEVENTS_CHECK_QUEUE: Variable[StoreSpec | None] = Variable(
    "GCEVENTS_CHECK_QUEUE", None, store("sqs", "sqlite"),
    "`sqs:QUEUE_URL` or `sqlite:PATH`: where the delayed completion checks of the grace period are queued"
    " (the queue the events come from); unset: no grace timer")
# fmt: on

VARIABLES: tuple[Variable[Any], ...] = (
    GCEVENTS_IDEMPOTENCY_STORE, GCEVENTS_STATE_STORE, GCEVENTS_DLQ, GCEVENTS_DB, GCEVENTS_ALLOWED_SOURCES,
    GCEVENTS_HANDLERS, GCEVENTS_ENRICH_KINDS, GCEVENTS_LAG_RETRIES, GCEVENTS_LAG_RETRY_DELAY,
    GCEVENTS_DEADLINE_MARGIN, GCEVENTS_HANDLER_CONCURRENCY, GCEVENTS_FACT_KEYS_AFTER, GCEVENTS_IDEMPOTENCY_TTL_DAYS,
    GCEVENTS_STATE_TTL_DAYS,
    GCEVENTS_CLAIM_CONCURRENCY, GCEVENTS_CLAIM_MODE, GCEVENTS_CLOCK_SKEW_MARGIN, GCEVENTS_LOG_LEVEL,
    AWS_LAMBDA_LOG_LEVEL, POWERTOOLS_LOG_LEVEL,
    GCEVENTS_METRICS_NAMESPACE, GCEVENTS_SERVICE_NAME, GCEVENTS_TRACING, LOG_LEVEL, POWERTOOLS_METRICS_NAMESPACE,
    POWERTOOLS_SERVICE_NAME,
    GENESYS_CLIENT_ID, GENESYS_CLIENT_SECRET, GENESYS_CLIENT_SECRET_ARN, GENESYS_REGION, GENESYS_DOMAIN,
    GENESYS_API_BASE_URL, GENESYS_LOGIN_BASE_URL, GENESYS_BULK_CHUNK, GENESYS_RATE_PER_MINUTE, GENESYS_API_LIMIT,
    GENESYS_BUDGET_SCOPE, GENESYS_BUDGET_TABLE, GENESYS_BUDGET_SHARE, GENESYS_MAX_CONCURRENCY,
    GENESYS_CONNECT_TIMEOUT, GENESYS_READ_TIMEOUT, GENESYS_MAX_RETRIES, GENESYS_MAX_WAIT,
    GCEVENTS_SINKS, GCEVENTS_WEBHOOK_SECRET, GCEVENTS_WEBHOOK_SECRET_ARN, GCEVENTS_WEBHOOK_TIMEOUT,
    GCEVENTS_WEBHOOK_CONCURRENCY, GCEVENTS_WEBHOOK_BREAKER, GCEVENTS_WEBHOOK_BREAKER_SECONDS, GCEVENTS_COMPLETION_GRACE,
    GCEVENTS_CHECK_QUEUE,
)  # fmt: skip


def markdown_table() -> str:
    """The README's configuration table."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    return "\n".join([*lines, *(variable.row() for variable in VARIABLES)])
