"""`make_client`: botocore clients without importing boto3, unless boto3's default session is set up (then its
settings and hooks apply, as the soak's fault injection relies on)."""

from __future__ import annotations

import subprocess
import sys

CODE = """
import sys
from gcevents.adapters.aws import make_client
client = make_client("sqs", region_name="us-east-1")
print("boto3" in sys.modules, client._serializer.__class__.__name__)
import boto3
boto3.setup_default_session()
seen = []
boto3.DEFAULT_SESSION.events.register("before-call.sqs", lambda **kw: seen.append(kw["model"].name))
hooked = make_client("sqs", region_name="us-east-1")
hooked.meta.events.emit("before-call.sqs.ListQueues", model=hooked.meta.service_model.operation_model("ListQueues"),
                        params={}, request_signer=None, context={})
print(seen)
"""


def test_clients_come_from_botocore_and_honour_boto3s_default_session_when_set_up() -> None:
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "PATH": ""}
    done = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, env=env, check=True)
    first, second = done.stdout.strip().splitlines()
    assert first == "False JSONSerializer"  # no boto3 import, no per-request parameter validation
    assert second == "['ListQueues']"
