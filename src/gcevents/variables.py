"""Every environment variable gcevents reads: name, default, parser and meaning, in one declarative table.

`gcevents.config` resolves them (and is the only module that touches `os.environ`); the README's configuration
table is this table rendered (`gcevents config`), and a test keeps the two in agreement.

One rule for every variable: unset, empty and whitespace-only are the same thing, the default. Values are
stripped, except secrets, which are taken as given."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

from gcevents.addresses import host_refusal, is_loopback_host
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
        return self.default if raw is None else self.parse_text(raw)

    def parse_text(self, raw: str) -> T:
        """The value of this text, or a ConfigError naming the variable and what it allows."""
        try:
            return self.parse(raw if self.secret else raw.strip())
        except ValueError as exc:
            shown = "'********'" if self.secret else repr(without_credentials(raw))
            raise ConfigError(f"{self.name}={shown}: {exc}") from exc

    def check(self, value: T) -> T:
        """A value given in code (a settings object built without the environment) held to the same range."""
        if isinstance(self.parse, Bounded) and isinstance(value, int | float) and not self.parse.allows(value):
            raise ConfigError(f"{self.name}={value!r}: must be {self.parse.allowed}")
        return value

    @property
    def allowed(self) -> str | None:
        """The range of a number (`a number > 0`), for messages and `gcevents config check`."""
        return self.parse.allowed if isinstance(self.parse, Bounded) else None

    def default_cell(self) -> str:
        """The README's default column: Markdown."""
        if self.shown_default is not None:
            return self.shown_default
        text = plain_text(self.default)
        return f"`{text}`" if text else ""

    def row(self) -> str:
        return f"| `{self.name}` | {self.default_cell()} | {self.meaning} |"


def without_credentials(text: str) -> str:
    """`https://user:pw@host/...` -> `https://***@host/...`: a refused URL is named in the error, its password not."""
    return re.sub(r"//[^/@\s]*@", "//***@", text)


def plain_text(value: object) -> str:
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


N = TypeVar("N", int, float)


@dataclass(frozen=True, slots=True)
class Bounded(Generic[N]):
    """A number and the range it must be in: durations and TTLs > 0, counts >= 1. The range is data, so errors,
    `gcevents config check` and the tests all read it from here. Infinities and NaN are never in range."""

    convert: Callable[[str], N]  # `integer` or `number`
    low: float
    high: float | None = None
    low_open: bool = False  # True: the low end itself is refused (`> 0`)

    def __call__(self, text: str) -> N:
        try:
            value = self.convert(text)
        except ValueError as exc:
            raise ValueError(f"{exc}; expected {self.allowed}") from None
        return self.check(value)

    def check(self, value: N) -> N:
        if not self.allows(value):
            raise ValueError(f"must be {self.allowed}")
        return value

    def allows(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        return above and (self.high is None or value <= self.high)

    @property
    def allowed(self) -> str:
        """`an integer >= 1`, `a number > 0`, `a number within (0, 1]`."""
        kind = "an integer" if self.convert is integer else "a number"
        low = plain_text(self.low)
        if self.high is None:
            return f"{kind} {'>' if self.low_open else '>='} {low}"
        return f"{kind} within {'(' if self.low_open else '['}{low}, {plain_text(self.high)}]"


POSITIVE = Bounded(number, 0, low_open=True)  # durations, TTLs, timeouts: 0 would disable what they time
NON_NEGATIVE = Bounded(number, 0)  # margins and waits where 0 is meaningful
AT_LEAST_ONE = Bounded(integer, 1)  # counts of things done at once, sizes
NON_NEGATIVE_INTEGER = Bounded(integer, 0)  # retries (0: none)
FRACTION = Bounded(number, 0, 1, low_open=True)


def string(text: str) -> str:
    return text


def csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def csv_set(text: str) -> frozenset[str]:
    return frozenset(csv(text))


def switch(text: str) -> bool:
    value = text.lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError("expected true or false")
    return value in ("true", "1", "yes")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LOG_LEVEL_ALIASES = {"TRACE": "DEBUG", "WARN": "WARNING", "FATAL": "CRITICAL"}  # Lambda's and Powertools' names


def log_level(text: str) -> str:
    """A level `logging` knows, in any case; a typo would otherwise crash the cold start later."""
    level = text.upper()
    level = _LOG_LEVEL_ALIASES.get(level, level)
    if level not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return level


def http_url(text: str) -> str:
    """An http(s) URL with a host and without credentials (they would travel in logs)."""
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        raise ValueError("not a URL; expected http(s)://HOST[:PORT]") from None
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError("expected an http(s)://HOST[:PORT] URL")
    if parts.username or parts.password:
        raise ValueError("credentials in the URL would travel in logs")
    return text


def secret_arn(text: str) -> str:
    if not re.fullmatch(r"arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]+:secret:.+", text):
        raise ValueError("not an ARN of Secrets Manager (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME)")
    return text


def client_ids(text: str) -> tuple[str, ...]:
    """`GENESYS_CLIENT_ID`: one id, or several separated by commas (blanks around them ignored)."""
    ids = tuple(part.strip() for part in text.split(","))
    if not all(ids):
        raise ValueError("has an empty entry")
    if len(set(ids)) != len(ids):
        raise ValueError("lists a client id twice")
    return ids


# Genesys Cloud regions, by the domain that hosts `api.<domain>` and `login.<domain>`.
REGION_DOMAINS = frozenset(
    {
        "mypurecloud.com",
        "mypurecloud.ie",
        "mypurecloud.de",
        "mypurecloud.jp",
        "mypurecloud.com.au",
        "usw2.pure.cloud",
        "cac1.pure.cloud",
        "euw2.pure.cloud",
        "euc2.pure.cloud",
        "aps1.pure.cloud",
        "apne2.pure.cloud",
        "apne3.pure.cloud",
        "apse1.pure.cloud",
        "sae1.pure.cloud",
        "mec1.pure.cloud",
        "mxc1.pure.cloud",
        "use2.us-gov-pure.cloud",
    }
)


def region_domain(text: str) -> str:
    """Accept `mypurecloud.ie`, `api.mypurecloud.ie` or `https://login.mypurecloud.ie/`; reject unknown ones,
    because a typo would otherwise send the client secret to a host we do not know."""
    domain = text.strip().lower()
    if "://" in domain:
        domain = urlsplit(domain).netloc
    domain = domain.strip("/")
    for prefix in ("api.", "login."):
        if domain.startswith(prefix):
            domain = domain[len(prefix) :]
    if domain not in REGION_DOMAINS:
        raise ValueError(
            f"not a Genesys Cloud region domain; expected one of {', '.join(sorted(REGION_DOMAINS))}"
            " (or set GENESYS_API_BASE_URL)"
        )
    return domain


def choice(*options: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return text

    return parse


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
        if parts.scheme == "http" and not is_loopback_host(host):
            raise ValueError(f"{where}: plain http is only allowed to a loopback address (tests, demo)")
        # Loopback is decided with GCEVENTS_WEBHOOK_ALLOW_LOOPBACK (config.py); everything else refused is here.
        if reason := host_refusal(host, allow_loopback=True):
            raise ValueError(f"{where}: the target is {reason}")
        if parts.username or parts.password:
            raise ValueError(f"{where}: credentials in the URL would travel in logs; use the signing secret")
    elif kind == "eventbridge" and not _BUS.fullmatch(target):
        raise ValueError(f"{where}: expected an event bus name or ARN")
    elif kind == "firehose" and not _STREAM.fullmatch(target):
        raise ValueError(f"{where}: expected a delivery stream name (letters, digits, _ . -, up to 64)")


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
GCEVENTS_DLQ_BUCKET: Variable[str | None] = Variable(
    "GCEVENTS_DLQ_BUCKET", None, string,
    "S3 bucket for the bodies of SQS dead letters over 256 KiB (a pointer stays in the DLQ); unset: such a letter"
    " is refused and the record reaches the DLQ whole through the queue's redrive policy")
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
    "GCEVENTS_LAG_RETRIES", 2, NON_NEGATIVE_INTEGER,
    "retries of an event whose conversation analytics does not know yet")
GCEVENTS_LAG_RETRY_DELAY = Variable(
    "GCEVENTS_LAG_RETRY_DELAY", 60.0, POSITIVE, "seconds before such a retry")
GCEVENTS_DEADLINE_MARGIN = Variable(
    "GCEVENTS_DEADLINE_MARGIN", 5.0, POSITIVE, "seconds before the deadline at which no new work starts")
GCEVENTS_HANDLER_CONCURRENCY = Variable(
    "GCEVENTS_HANDLER_CONCURRENCY", 8, AT_LEAST_ONE,
    "conversations handled in parallel (the events of one conversation in order)")
GCEVENTS_FACT_KEYS_AFTER = Variable(
    "GCEVENTS_FACT_KEYS_AFTER", 600.0, NON_NEGATIVE,
    "seconds after its eventTime from which a once-per-session event also claims its fact key (shared with a"
    " fact `gcevents reconcile` rebuilt); 0: always. See docs/operations.md")
GCEVENTS_IDEMPOTENCY_TTL_DAYS = Variable(
    "GCEVENTS_IDEMPOTENCY_TTL_DAYS", 5.0, POSITIVE, "days a completed key is kept (re-sends within it are skipped)")
GCEVENTS_STATE_TTL_DAYS = Variable(
    "GCEVENTS_STATE_TTL_DAYS", 30, AT_LEAST_ONE, "days a conversation state item is kept after its last update")
GCEVENTS_CLAIM_CONCURRENCY = Variable(
    "GCEVENTS_CLAIM_CONCURRENCY", 16, AT_LEAST_ONE,
    "idempotency claims in flight at once (also sizes the boto3 connection pools)")
GCEVENTS_CLAIM_MODE = Variable(
    "GCEVENTS_CLAIM_MODE", "per_key", choice(*CLAIM_MODES),
    "`transaction`: up to 100 claims per TransactWriteItems request (fewer requests and round trips; each"
    " transactional write costs 2 WCU, and one conflicting key makes the other 99 retry once)")
GCEVENTS_CLOCK_SKEW_MARGIN = Variable(
    "GCEVENTS_CLOCK_SKEW_MARGIN", 5.0, NON_NEGATIVE,
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
GENESYS_CLIENT_ID: Variable[tuple[str, ...]] = Variable(
    "GENESYS_CLIENT_ID", (), client_ids,
    "OAuth client-credentials client id, or several separated by commas (calls are spread over one token per "
    "client); unset = no enrichment")
GENESYS_CLIENT_SECRET: Variable[str | None] = Variable(
    "GENESYS_CLIENT_SECRET", None, string,
    "the client secret (or use `GENESYS_CLIENT_SECRET_ARN`, not both); with several client ids, a JSON object "
    "`{\"<id>\": \"<secret>\"}` (or `{\"clients\": {...}}`)", secret=True)
GENESYS_CLIENT_SECRET_ARN: Variable[str | None] = Variable(
    "GENESYS_CLIENT_SECRET_ARN", None, secret_arn,
    "Secrets Manager ARN of the client secret (several client ids: the same JSON), read once per container")
GENESYS_REGION: Variable[str | None] = Variable(
    "GENESYS_REGION", None, region_domain,
    "region domain, e.g. `mypurecloud.ie`: `api.` and `login.` hosts derive from it")
GENESYS_DOMAIN: Variable[str | None] = Variable(
    "GENESYS_DOMAIN", None, region_domain, "alias of `GENESYS_REGION`, read when that is unset")
GENESYS_API_BASE_URL: Variable[str | None] = Variable(
    "GENESYS_API_BASE_URL", None, http_url, "overrides `https://api.<region>` (simulators, proxies)")
GENESYS_LOGIN_BASE_URL: Variable[str | None] = Variable(
    "GENESYS_LOGIN_BASE_URL", None, http_url,
    "overrides `https://login.<region>`; the API URL when only that one is overridden")
GENESYS_BULK_CHUNK = Variable(
    "GENESYS_BULK_CHUNK", 100, AT_LEAST_ONE,
    "conversation ids per bulk analytics call (a chunk answered 400/413 is split)")
GENESYS_RATE_PER_MINUTE = Variable(
    "GENESYS_RATE_PER_MINUTE", 0, NON_NEGATIVE_INTEGER,
    "a static override: requests/min this instance paces itself to; unset or `0`: adaptive pacing (the limits API,"
    " then AIMD on 429)", "(adaptive)")
GENESYS_API_LIMIT = Variable(
    "GENESYS_API_LIMIT", 300, AT_LEAST_ONE,
    "requests/min per token assumed when the limits API (`/api/v2/organizations/limits/namespaces/...`) cannot be read")
GENESYS_BUDGET_SCOPE = Variable(
    "GENESYS_BUDGET_SCOPE", "token", choice(*BUDGET_SCOPES),
    "`token`: each container paces its own token; `shared`: one fleet-wide bucket in `GENESYS_BUDGET_TABLE`")
GENESYS_BUDGET_TABLE: Variable[str | None] = Variable(
    "GENESYS_BUDGET_TABLE", None, string, "DynamoDB table of the shared budget (required with `shared`)")
GENESYS_BUDGET_SHARE = Variable(
    "GENESYS_BUDGET_SHARE", 1.0, FRACTION,
    "fraction of the limit this deployment takes (lower it when other tools use the same client)")
GENESYS_MAX_CONCURRENCY = Variable(
    "GENESYS_MAX_CONCURRENCY", 4, AT_LEAST_ONE, "bulk calls in flight at once, per OAuth client")
GENESYS_CONNECT_TIMEOUT = Variable(
    "GENESYS_CONNECT_TIMEOUT", 3.0, POSITIVE, "seconds to connect to the Genesys API")
GENESYS_READ_TIMEOUT = Variable(
    "GENESYS_READ_TIMEOUT", 10.0, POSITIVE, "seconds to wait for an answer of the Genesys API")
GENESYS_MAX_RETRIES = Variable(
    "GENESYS_MAX_RETRIES", 3, NON_NEGATIVE_INTEGER, "retries per request on 429, 5xx, timeouts and connection errors")
GENESYS_MAX_WAIT = Variable(
    "GENESYS_MAX_WAIT", 20.0, NON_NEGATIVE, "longest wait, in seconds, for rate-limit budget inside one batch")
GCEVENTS_SINKS: Variable[tuple[SinkSpec, ...]] = Variable(
    "GCEVENTS_SINKS", (), sinks,
    "outputs without code: `;`-separated `webhook:URL`, `eventbridge:BUS`, `firehose:STREAM`, each with an"
    " optional `\\|selector,...` (`completed`, `updated`, `derived`, or raw topic patterns); none: `derived`."
    " See docs/outputs.md", secret=True)  # never echoed: webhook URLs may carry tokens
GCEVENTS_WEBHOOK_SECRET: Variable[str | None] = Variable(
    "GCEVENTS_WEBHOOK_SECRET", None, string,
    "HMAC-SHA256 key of the `X-Gcevents-Signature` header, or a JSON list `[\"current\", \"next\"]` while rotating"
    " (or `GCEVENTS_WEBHOOK_SECRET_ARN`, not both)",
    secret=True)
GCEVENTS_WEBHOOK_SECRET_ARN: Variable[str | None] = Variable(
    "GCEVENTS_WEBHOOK_SECRET_ARN", None, secret_arn,
    "Secrets Manager ARN of the signing secret, read once per container")
GCEVENTS_WEBHOOK_TIMEOUT = Variable(
    "GCEVENTS_WEBHOOK_TIMEOUT", 10.0, POSITIVE, "seconds per webhook request (never past the invocation deadline)")
GCEVENTS_WEBHOOK_CONCURRENCY = Variable(
    "GCEVENTS_WEBHOOK_CONCURRENCY", 4, AT_LEAST_ONE, "requests in flight at once per webhook destination")
GCEVENTS_WEBHOOK_ALLOW_LOOPBACK = Variable(
    "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK", False, switch,
    "`true`: webhooks may target loopback (tests, the demo); metadata and link-local targets are always refused",
    "`false`")
GCEVENTS_WEBHOOK_BREAKER = Variable(
    "GCEVENTS_WEBHOOK_BREAKER", 5, AT_LEAST_ONE,
    "failed requests in a row that open a destination's circuit (records are handed back with a delay)")
GCEVENTS_WEBHOOK_BREAKER_SECONDS = Variable(
    "GCEVENTS_WEBHOOK_BREAKER_SECONDS", 30.0, POSITIVE,
    "first open period of the circuit; doubles while the destination stays down, up to 900")
GCEVENTS_COMPLETION_GRACE = Variable(
    "GCEVENTS_COMPLETION_GRACE", 900.0, NON_NEGATIVE,
    "seconds after a conversation ended to wait for a missing wrap-up before `conversation.completed` goes out")
# The completion timers' queue keeps its old name: deployed stacks set it ('check' is otherwise validation).
GCEVENTS_CHECK_QUEUE: Variable[StoreSpec | None] = Variable(
    "GCEVENTS_CHECK_QUEUE", None, store("sqs", "sqlite"),
    "`sqs:QUEUE_URL` or `sqlite:PATH`: where the delayed completion timers of the grace period are queued"
    " (the queue the events come from); unset: no grace timer")
GCEVENTS_ATTRIBUTES = Variable(  # parsed by gcevents.config (the policy is a core type; this table is below it)
    "GCEVENTS_ATTRIBUTES", "names", string,
    "what of participant attributes the state, records, sinks and logs keep: `;`-separated `none`, `names` (values"
    " withheld), `allow:NAME,...` (values as sent), `hash:NAME,...` (keyed HMAC-SHA256); `*` is every name."
    " See docs/data-protection.md")
GCEVENTS_ATTRIBUTES_HASH_KEY: Variable[str | None] = Variable(
    "GCEVENTS_ATTRIBUTES_HASH_KEY", None, string,
    "the HMAC key of `hash:` attributes (or `GCEVENTS_ATTRIBUTES_HASH_KEY_ARN`, not both); required with `hash:`",
    secret=True)
GCEVENTS_ATTRIBUTES_HASH_KEY_ARN: Variable[str | None] = Variable(
    "GCEVENTS_ATTRIBUTES_HASH_KEY_ARN", None, string, "Secrets Manager ARN of that key, read once per container")
# fmt: on

VARIABLES: tuple[Variable[Any], ...] = (
    GCEVENTS_IDEMPOTENCY_STORE,
    GCEVENTS_STATE_STORE,
    GCEVENTS_DLQ,
    GCEVENTS_DB,
    GCEVENTS_DLQ_BUCKET,
    GCEVENTS_ALLOWED_SOURCES,
    GCEVENTS_HANDLERS,
    GCEVENTS_ENRICH_KINDS,
    GCEVENTS_LAG_RETRIES,
    GCEVENTS_LAG_RETRY_DELAY,
    GCEVENTS_DEADLINE_MARGIN,
    GCEVENTS_HANDLER_CONCURRENCY,
    GCEVENTS_FACT_KEYS_AFTER,
    GCEVENTS_IDEMPOTENCY_TTL_DAYS,
    GCEVENTS_STATE_TTL_DAYS,
    GCEVENTS_CLAIM_CONCURRENCY,
    GCEVENTS_CLAIM_MODE,
    GCEVENTS_CLOCK_SKEW_MARGIN,
    GCEVENTS_LOG_LEVEL,
    AWS_LAMBDA_LOG_LEVEL,
    POWERTOOLS_LOG_LEVEL,
    GCEVENTS_METRICS_NAMESPACE,
    GCEVENTS_SERVICE_NAME,
    GCEVENTS_TRACING,
    LOG_LEVEL,
    POWERTOOLS_METRICS_NAMESPACE,
    POWERTOOLS_SERVICE_NAME,
    GENESYS_CLIENT_ID,
    GENESYS_CLIENT_SECRET,
    GENESYS_CLIENT_SECRET_ARN,
    GENESYS_REGION,
    GENESYS_DOMAIN,
    GENESYS_API_BASE_URL,
    GENESYS_LOGIN_BASE_URL,
    GENESYS_BULK_CHUNK,
    GENESYS_RATE_PER_MINUTE,
    GENESYS_API_LIMIT,
    GENESYS_BUDGET_SCOPE,
    GENESYS_BUDGET_TABLE,
    GENESYS_BUDGET_SHARE,
    GENESYS_MAX_CONCURRENCY,
    GENESYS_CONNECT_TIMEOUT,
    GENESYS_READ_TIMEOUT,
    GENESYS_MAX_RETRIES,
    GENESYS_MAX_WAIT,
    GCEVENTS_SINKS,
    GCEVENTS_WEBHOOK_SECRET,
    GCEVENTS_WEBHOOK_SECRET_ARN,
    GCEVENTS_WEBHOOK_TIMEOUT,
    GCEVENTS_WEBHOOK_CONCURRENCY,
    GCEVENTS_WEBHOOK_BREAKER,
    GCEVENTS_WEBHOOK_BREAKER_SECONDS,
    GCEVENTS_COMPLETION_GRACE,
    GCEVENTS_CHECK_QUEUE,
    GCEVENTS_WEBHOOK_ALLOW_LOOPBACK,
    GCEVENTS_ATTRIBUTES,
    GCEVENTS_ATTRIBUTES_HASH_KEY,
    GCEVENTS_ATTRIBUTES_HASH_KEY_ARN,
)


def markdown_table() -> str:
    """The README's configuration table."""
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    return "\n".join([*lines, *(variable.row() for variable in VARIABLES)])
