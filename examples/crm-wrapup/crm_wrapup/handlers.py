"""When an agent finishes after-call work, post the wrap-up code to the CRM, exactly once in effect.

Deployed with `GCEVENTS_HANDLERS=crm_wrapup.handlers:router`. The CRM's URL and token come from the environment
(`CRM_WEBHOOK_URL`, `CRM_TOKEN`) or, in Lambda, from the Secrets Manager secret the template's `HandlerSecretArn`
names (`{"url": ..., "token": ...}`). They are read on first use, not at import: `gcevents package` imports this
module to check it, on a machine that has neither."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from gcevents import AcwEvent, HandlerContext, PermanentError, Router, TransientError, typed_handler

router = Router()


@dataclass(frozen=True)
class Crm:
    """The CRM's wrap-up webhook. One `httpx.Client` per container: connections are reused across invocations,
    and the handler threads share it safely (httpx clients are thread-safe)."""

    client: httpx.Client
    url: str

    def post(self, payload: Mapping[str, Any], *, idempotency_key: str, timeout: float) -> httpx.Response:
        # The same key on every retry and on every Genesys re-send: the CRM drops the duplicate.
        headers = {"Idempotency-Key": idempotency_key}
        return self.client.post(self.url, json=payload, headers=headers, timeout=timeout)


_lock = threading.Lock()  # handlers run on a thread pool: two first calls must not both build the client
_crm: Crm | None = None


def crm() -> Crm:
    global _crm
    with _lock:
        if _crm is None:
            url, token = _settings()
            _crm = Crm(httpx.Client(headers={"Authorization": f"Bearer {token}"}), url)
        return _crm


def use_crm(client: Crm | None) -> None:
    """For tests: post through `client` (an httpx.MockTransport, say); None: back to the settings."""
    global _crm
    with _lock:
        _crm = client


def _settings() -> tuple[str, str]:
    if os.environ.get("CRM_WEBHOOK_URL"):
        return os.environ["CRM_WEBHOOK_URL"], os.environ["CRM_TOKEN"]
    import boto3  # in Lambda only (its runtime has boto3); read once per container

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=os.environ["HANDLER_SECRET_ARN"])
    values = json.loads(secret["SecretString"])
    return values["url"], values["token"]


@router.on("v2.detail.events.conversation.{id}.acw")
@typed_handler
def post_wrapup(event: AcwEvent, ctx: HandlerContext) -> None:
    if event.wrapup_code is None:
        return  # nothing to record: succeed, so the event is not retried forever
    details = ctx.enrichment or {}
    payload = {
        "conversationId": event.conversation_id,
        "agentId": event.user_id,
        "queueId": event.queue_id,
        "wrapupCode": event.wrapup_code,
        "wrapupSeconds": (event.wrapup_duration_ms or 0) / 1000,
        "endedAt": details.get("conversationEnd"),  # None while analytics lags
        "occurredAt": event.event_time.isoformat(),
    }
    timeout = max(1.0, min(10.0, ctx.remaining() - 2))
    try:
        response = crm().post(payload, idempotency_key=ctx.idempotency_key, timeout=timeout)
    except httpx.HTTPError as exc:  # connect errors, timeouts: worth another try
        raise TransientError(f"CRM unreachable: {type(exc).__name__}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        retry_after = response.headers.get("Retry-After", "")
        raise TransientError(
            f"CRM answered {response.status_code}",
            retry_after=float(retry_after) if retry_after.isdigit() else None,
        )
    if response.status_code >= 400:
        # Our request is wrong (validation, unknown code): retrying cannot help. Dead-letter it, fix, redrive.
        raise PermanentError(f"CRM rejected the wrap-up: {response.status_code}", reason="crm_rejected")
