"""EventBridge and Firehose sinks against moto's server: a rule on the output bus feeds an SQS queue we read back;
the delivery stream writes NDJSON objects to S3. moto cannot fail single entries, so a thin stub in front of the
real client fails some entries of the first calls WITHOUT forwarding them (what a partial failure is)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from gcevents.config import Config
from gcevents.core.events import RawRecord
from gcevents.core.pipeline import Outcome
from gcevents.entrypoints.runtime import build_runtime
from gcevents.testing.workload import make_spike

from .test_webhook_e2e import expectations

RAW = "v2.detail.events.conversation.{id}.customer.end"


class FailSomeEntries:
    """Fails every `every`-th entry of the first `calls` requests; forwards the others to the real client."""

    def __init__(self, client: Any, method: str, field: str, answers: str, code: str, *, calls: int = 2) -> None:
        self.client, self.method, self.field, self.answers, self.code = client, method, field, answers, code
        self.calls_left = calls
        self.failed = 0

    def __getattr__(self, name: str) -> Any:
        if name != self.method:
            return getattr(self.client, name)
        return self._call

    def _call(self, **kwargs: Any) -> dict[str, Any]:
        entries = kwargs[self.field]
        if self.calls_left <= 0:
            return getattr(self.client, self.method)(**kwargs)  # type: ignore[no-any-return]
        self.calls_left -= 1
        keep = [i for i in range(len(entries)) if i % 3 != 1]
        forwarded = getattr(self.client, self.method)(**{**kwargs, self.field: [entries[i] for i in keep]})
        real = iter(forwarded[self.answers])
        answers = [
            next(real) if i in keep else {"ErrorCode": self.code, "ErrorMessage": "injected"}
            for i in range(len(entries))
        ]
        self.failed += len(entries) - len(keep)
        return {self.answers: answers, "FailedPutCount": self.failed, "FailedEntryCount": self.failed}


def run_until_settled(runtime: Any, bodies: list[str]) -> None:
    pending = [RawRecord(body, f"m{n}", f"r{n}") for n, body in enumerate(bodies)]
    for _ in range(6):
        report = runtime.pipeline.run(pending, time.time() + 60)
        pending = [r.record for r in report.results if r.outcome is Outcome.RETRY]
        if not pending:
            return
    raise AssertionError(f"{len(pending)} records still failing")


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not got:
            return out
        out.extend(json.loads(m["Body"]) for m in got)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        )


def base_env(tmp: Any) -> dict[str, str]:
    return {"GCEVENTS_DB": str(tmp / "g.db"), "GCEVENTS_COMPLETION_GRACE": "0"}


def test_eventbridge_puts_each_record_once_despite_per_entry_failures(
    boto_client: Any, unique_name: str, tmp_path: Any
) -> None:
    events, sqs = boto_client("events"), boto_client("sqs")
    events.create_event_bus(Name=unique_name)
    url = sqs.create_queue(QueueName=unique_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="observe", EventBusName=unique_name, EventPattern=json.dumps({"source": ["gcevents"]}))
    events.put_targets(Rule="observe", EventBusName=unique_name, Targets=[{"Id": "q", "Arn": arn}])
    flaky = FailSomeEntries(events, "put_events", "Entries", "Entries", "ThrottlingException")
    env = {**base_env(tmp_path), "GCEVENTS_SINKS": f"eventbridge:{unique_name}|derived,{RAW}"}
    runtime = build_runtime(Config.from_env(env), clients={"events": flaky})
    spike = make_spike(150, duplicate_rate=0.2, malformed=0, untrusted=0, seed=21)
    run_until_settled(runtime, spike.bodies)
    put = drain(sqs, url)
    assert flaky.failed > 0
    assert {e["source"] for e in put} == {"gcevents"}
    by_type = Counter(e["detail-type"] for e in put)
    ended, _ = expectations(spike)
    completed = [e["detail"] for e in put if e["detail-type"] == "conversation.completed"]
    assert Counter(d["conversationId"] for d in completed) == dict.fromkeys(ended, 1)
    raw = [e for e in put if e["detail-type"].startswith("v2.detail.events.conversation.")]
    assert len(raw) == len(ended)
    assert all(e["detail-type"].endswith(".customer.end") for e in raw)
    assert max(Counter(e["detail"]["id"] for e in put).values()) == 1
    assert by_type["conversation.completed"] == len(ended)


def test_firehose_writes_ndjson_to_s3_once_despite_partial_failures(
    boto_client: Any, unique_name: str, tmp_path: Any
) -> None:
    s3, firehose = boto_client("s3"), boto_client("firehose")
    s3.create_bucket(Bucket=unique_name)
    firehose.create_delivery_stream(
        DeliveryStreamName=unique_name,
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::123456789012:role/firehose",
            "BucketARN": f"arn:aws:s3:::{unique_name}",
            "Prefix": "conversations/",
        },
    )
    flaky = FailSomeEntries(firehose, "put_record_batch", "Records", "RequestResponses", "ServiceUnavailableException")
    env = {**base_env(tmp_path), "GCEVENTS_SINKS": f"firehose:{unique_name}|completed"}
    runtime = build_runtime(Config.from_env(env), clients={"firehose": flaky})
    spike = make_spike(150, duplicate_rate=0.2, malformed=0, untrusted=0, seed=22)
    run_until_settled(runtime, spike.bodies)
    lines: list[dict[str, Any]] = []
    for item in s3.list_objects_v2(Bucket=unique_name).get("Contents", []):
        text = s3.get_object(Bucket=unique_name, Key=item["Key"])["Body"].read().decode()
        lines.extend(json.loads(line) for line in text.splitlines() if line)
    assert flaky.failed > 0
    ended, _ = expectations(spike)
    assert Counter(d["conversationId"] for d in lines) == dict.fromkeys(ended, 1)
    assert {d["type"] for d in lines} == {"conversation.completed"}
