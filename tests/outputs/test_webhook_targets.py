"""Issue 21.6, at delivery: the webhook's host is resolved, every address checked, and the connection made to the
checked address (a DNS answer that changes between the check and the connect cannot send the signed body to the
instance metadata service). TLS and the Host header keep the name. Real sockets on 127.0.0.1; names resolved by
a stub resolver, so no DNS traffic leaves the machine."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from gcevents.adapters.sinks.webhook import WebhookSink
from gcevents.addresses import METADATA_ADDRESSES, refusal
from gcevents.errors import ConfigError, PermanentError
from gcevents.secret import Secret
from gcevents.testing.sinks import WebhookReceiver

from .kit import outbound_record

SECRET = "whsec-test-0123456789"


def resolver(*addresses: str) -> Callable[[str, int], list[str]]:
    asked: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        return list(addresses)

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


@pytest.mark.parametrize(
    "addresses",
    [
        ("169.254.169.254",),
        ("fd00:ec2::254",),
        ("::ffff:169.254.169.254",),
        ("10.0.0.5", "169.254.170.2"),
        ("0.0.0.0",),
        ("127.0.0.1",),
    ],
)
def test_a_name_resolving_to_a_forbidden_address_is_refused_before_connecting(addresses: tuple[str, ...]) -> None:
    resolve = resolver(*addresses)
    sink = WebhookSink("https://hooks.example.com/in/T0K3N", lambda: Secret(SECRET), resolve=resolve)
    try:
        failures = sink.deliver([outbound_record()], deadline=time.time() + 10)
    finally:
        sink.close()
    error = failures["c1:v1"]
    assert isinstance(error, PermanentError)
    assert "T0K3N" not in str(error)
    assert "hooks.example.com" in str(error)
    assert resolve.asked == ["hooks.example.com"]  # type: ignore[attr-defined]


def test_the_connection_goes_to_the_checked_address_with_the_name_kept() -> None:
    """`hooks.invalid` has no DNS record: delivering proves the socket went to the address we checked."""
    with WebhookReceiver(SECRET) as receiver:
        url = receiver.url.replace("127.0.0.1", "hooks.invalid")
        sink = WebhookSink(url, lambda: Secret(SECRET), resolve=resolver("127.0.0.1"), allow_loopback=True)
        try:
            assert sink.deliver([outbound_record()], deadline=time.time() + 10) == {}
        finally:
            sink.close()
        assert list(receiver.keys()) == ["c1:v1"]


def test_a_loopback_target_needs_the_switch() -> None:
    with WebhookReceiver(SECRET) as receiver:
        with pytest.raises(ConfigError, match="GCEVENTS_WEBHOOK_ALLOW_LOOPBACK"):
            WebhookSink(receiver.url, lambda: Secret(SECRET))
        sink = WebhookSink(receiver.url, lambda: Secret(SECRET), allow_loopback=True)
        try:
            assert sink.deliver([outbound_record()], deadline=time.time() + 10) == {}
        finally:
            sink.close()


@given(st.integers(min_value=0, max_value=2**16 - 1), st.sampled_from(["v4", "mapped", "nat64", "6to4"]))
def test_a_link_local_address_is_refused_in_every_spelling(low: int, spelling: str) -> None:
    v4 = ipaddress.IPv4Address(int(ipaddress.IPv4Address("169.254.0.0")) + low)
    spelled: ipaddress.IPv4Address | ipaddress.IPv6Address = {
        "v4": v4,
        "mapped": ipaddress.IPv6Address(f"::ffff:{v4}"),
        "nat64": ipaddress.IPv6Address(f"64:ff9b::{v4}"),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (int(v4) << 80)),
    }[spelling]
    assert refusal(spelled, allow_loopback=True) is not None


@given(st.sampled_from(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]), st.integers(min_value=1))
def test_a_private_address_is_allowed(network: str, offset: int) -> None:
    net = ipaddress.ip_network(network)
    address = net[offset % net.num_addresses]
    assume(address not in METADATA_ADDRESSES)
    assert refusal(address, allow_loopback=False) is None
