"""Which addresses a webhook may reach. Never a cloud metadata service, a link-local or an unspecified address: a
signed POST there is a server-side request forgery that can hand out the function's credentials. Loopback only when
asked for (tests, the demo): in Lambda the runtime API listens there. Private ranges are allowed: a CRM in a VPC is
legitimate. Checked on the URL at start (`variables.py`) and on every resolved address at delivery (the webhook
sink), so a DNS answer that changes later (rebinding) cannot reach what the URL could not."""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_LOOPBACK = "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK"

# Names that reach a metadata service from inside a cloud VM or container, whatever a resolver says of them.
METADATA_HOSTS = frozenset(
    {"metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal"}
)
# Metadata and credential endpoints outside the link-local range: AWS IMDS and EKS Pod Identity over IPv6 (in the
# private fd00::/8), Alibaba Cloud's (in the shared 100.64.0.0/10).
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("fd00:ec2::254", "fd00:ec2::23", "100.100.100.200", "169.254.169.254")
)
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")  # "this host": connecting there reaches the local machine
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated IPv4-compatible IPv6 (::a.b.c.d)


def refusal(address: IPAddress, *, allow_loopback: bool) -> str | None:
    """Why a webhook may not connect to `address`, or None."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and (reason := refusal(embedded, allow_loopback=allow_loopback)):
        return reason
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified or address in _THIS_NETWORK:
        return "an unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_loopback and not allow_loopback:
        return f"a loopback address (allowed only with {ALLOW_LOOPBACK}=true: tests, the demo)"
    return None


def host_refusal(host: str, *, allow_loopback: bool) -> str | None:
    """Why a URL's host (a name, or an address without brackets) is refused before any DNS lookup, or None."""
    name = host.rstrip(".").lower()
    if name in METADATA_HOSTS:
        return "a cloud metadata host name"
    if is_loopback_name(name):
        return None if allow_loopback else f"a loopback name (allowed only with {ALLOW_LOOPBACK}=true: tests, the demo)"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None  # a name: its addresses are checked when it is resolved, at delivery
    return refusal(address, allow_loopback=allow_loopback)


def is_loopback_host(host: str) -> bool:
    """`localhost`, `*.localhost` (RFC 6761) or a loopback address (an IPv4-mapped one included)."""
    name = host.rstrip(".").lower()
    if is_loopback_name(name):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    embedded = _embedded_ipv4(address)
    return address.is_loopback or (embedded is not None and embedded.is_loopback)


def is_loopback_name(name: str) -> bool:
    return name == "localhost" or name.endswith(".localhost")


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (IPv4-mapped, NAT64, 6to4, IPv4-compatible), which is where it goes."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None
