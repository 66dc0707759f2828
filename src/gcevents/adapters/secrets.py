"""A secret given in the environment or read once per container from Secrets Manager (then cached): the webhook
signing secret and the attribute hashing key (GCEVENTS_ATTRIBUTES)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from gcevents.errors import ConfigError

if TYPE_CHECKING:
    from gcevents.secret import Secret

log = logging.getLogger(__name__)


class SecretSource:
    """`source()` -> the Secret; Secrets Manager is read on the first call, not at start. `what` names the
    secret in logs and errors (never its value)."""

    def __init__(
        self, secret: Secret | None = None, arn: str | None = None, *, what: str = "webhook signing secret"
    ) -> None:
        if secret is None and arn is None:
            raise ConfigError(f"the {what} needs a value or a Secrets Manager ARN")
        self._secret = secret
        self._arn = arn
        self._what = what
        self._lock = threading.Lock()

    def __call__(self) -> Secret:
        if self._secret is not None:
            return self._secret
        with self._lock:
            if self._secret is None:
                self._secret = read_secret(self._arn or "", self._what)
            return self._secret

    def __repr__(self) -> str:
        return f"SecretSource({self._what!r})"


def read_secret(arn: str, what: str) -> Secret:
    from gcevents.adapters.aws import make_client, translate
    from gcevents.secret import Secret

    parts = arn.split(":")
    client = make_client("secretsmanager", region_name=parts[3] if len(parts) > 3 else None, read_timeout=5)
    try:
        text = client.get_secret_value(SecretId=arn).get("SecretString")
    except Exception as exc:
        raise translate(exc, f"reading the {what} from Secrets Manager") from exc
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"secret {arn} has no SecretString")
    log.info(f"{what} read from Secrets Manager", extra={"secretArn": arn})
    return Secret(text.strip())
