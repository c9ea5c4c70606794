"""Where provider URLs may point (PROVIDER_URL_POLICY, PROVIDER_URL_ALLOW).

A provider's base_url receives its key and every prompt, so a URL is an outbound request
the operator allows. The rules, checked on the host as written when a provider is saved
or tested, and on every address the host resolves to when a connection is made (so a DNS
answer that changes after the save, "DNS rebinding", is refused too):

- never: link-local (169.254.0.0/16, fe80::/10, where cloud metadata services live),
  fd00:ec2::254 and metadata.google.internal — not even when listed in PROVIDER_URL_ALLOW;
- `default` policy: everything else; loopback and private networks are where self-hosted
  Ollama and vLLM servers live;
- `public` policy: also refuses loopback, private (RFC 1918), unique-local (fc00::/7),
  shared (CGNAT, 100.64.0.0/10) and unspecified addresses, unless PROVIDER_URL_ALLOW lists
  the host or a network containing the address.

IP literals are normalised as the C library would read them (`2130706433`, `0x7f000001`,
`0177.0.0.1`, `127.1` are all 127.0.0.1) and IPv4-mapped IPv6 is judged as its IPv4.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

import httpx
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT, PUBLIC = "default", "public"
POLICIES = (DEFAULT, PUBLIC)

NEVER_NETWORKS = tuple(
    ipaddress.ip_network(net) for net in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
)
NEVER_HOSTS = frozenset({"metadata.google.internal", "metadata.goog"})
NOT_PUBLIC_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::/128",
        "::1/128",
        "fc00::/7",
    )
)
NOT_PUBLIC_HOSTS = frozenset({"localhost", "localhost.localdomain"})


class URLRefused(OSError):
    """The policy refuses this host or address. An OSError, so that aiohttp reports it from
    the resolver as a connection error (the attempt fails over like any unreachable host)."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host} is refused by PROVIDER_URL_POLICY: {reason}")
        self.host = host
        self.reason = reason


def parse_ip(host: str) -> IPAddress | None:
    """The address an IP literal means, in any encoding the resolver would accept."""
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        try:  # decimal, hex, octal and short forms, as inet_aton reads them
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except (OSError, UnicodeError, ValueError):
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _allowed(host: str, address: IPAddress | None) -> bool:
    for entry in settings.PROVIDER_URL_ALLOW:
        entry = entry.strip().lower()
        if entry == host:
            return True
        if address is None or not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue  # a host name, not a network
        if address in network:
            return True
    return False


def refusal(host: str, address: IPAddress | None = None) -> str | None:
    """Why the policy refuses `host` (resolved to `address` when given), or None."""
    host = host.lower().rstrip(".")
    address = address if address is not None else parse_ip(host)
    if host in NEVER_HOSTS:
        return "cloud metadata hosts are never allowed"
    if address is not None and any(address in net for net in NEVER_NETWORKS):
        return "link-local and cloud metadata addresses are never allowed"
    if settings.PROVIDER_URL_POLICY != PUBLIC or _allowed(host, address):
        return None
    if host in NOT_PUBLIC_HOSTS or host.endswith(".localhost"):
        return "the public policy refuses loopback hosts"
    if address is not None and any(address in net for net in NOT_PUBLIC_NETWORKS):
        return "the public policy refuses loopback, private and unspecified addresses"
    return None


def check_url(url: str) -> None:
    """Raise URLRefused when the URL's host as written is refused (save and test time)."""
    host = urlsplit(url).hostname or ""
    reason = refusal(host)
    if reason:
        raise URLRefused(host, reason)


@lru_cache(maxsize=1024)
def _cached_refusal(host: str, policy: str, allow: tuple[str, ...]) -> str | None:
    return refusal(host)


def check_host(host: str) -> None:
    """check_url for the hot path: the verdict on a literal host, cached per settings."""
    reason = _cached_refusal(host, settings.PROVIDER_URL_POLICY, tuple(settings.PROVIDER_URL_ALLOW))
    if reason:
        raise URLRefused(host, reason)


def check_addresses(host: str, addresses: Iterable[str]) -> None:
    """Raise URLRefused when any address `host` resolved to is refused: one bad answer
    among good ones is still a rebinding attempt."""
    for text in addresses:
        address = parse_ip(text)
        reason = refusal(host, address) or (refusal(text, address) if address else None)
        if reason:
            raise URLRefused(host, reason)


# --- httpx (probes and catalog sync) ------------------------------------------------------


class PolicyTransport(httpx.AsyncBaseTransport):
    """An httpx transport that resolves the host itself, checks every address, and connects
    to a checked one (the TLS name stays the host's, through the `sni_hostname` extension),
    so nothing resolves the name again between the check and the connection."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if parse_ip(host) is not None:
            check_addresses(host, [host])
            return await self._inner.handle_async_request(request)
        check_url(str(request.url))
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        check_addresses(host, addresses)
        original, failure = request.url, None
        request.extensions = {**request.extensions, "sni_hostname": host}
        for address in addresses:  # each checked; the next when one does not connect
            request.url = original.copy_with(host=address)
            try:
                return await self._inner.handle_async_request(request)
            except httpx.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        await self._inner.aclose()
