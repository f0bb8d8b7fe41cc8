"""Where the services may send requests on an agency's behalf (webhooks): one policy, checked twice.

An agency names a URL; the service then connects to it from inside the city's network. Without a policy that
makes every agency a port scanner of that network and of the cloud's metadata service. So:

- at registration, `OutboundPolicy.refusal(url)` refuses what the URL alone gives away: a scheme other than
  https (http only where configured), credentials in the URL, a literal address outside the public internet
  in any spelling (`127.1`, `0x7f000001`, `2130706433`, `[::1]`, `[::ffff:127.0.0.1]`), and internal names
  (`localhost`, `metadata.google.internal`, a single label such as `postgres`);
- at connect time, `VettedTransport` resolves the name once, refuses it if *any* address it resolves to is not
  public, and connects to the vetted address itself (the Host header and TLS SNI stay the name), so a name
  that answered a public address at registration and answers 127.0.0.1 at delivery is refused.

On-premises receivers are allowed by name (`allowed_hosts`) or by network (`allowed_networks`), never by
weakening the rules for everyone. The checks are pure and use only the standard library (`ipaddress`,
`socket`), so they have unit tests that run without a network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

REFUSED = "Địa chỉ webhook không được phép (address not allowed)"
INTERNAL_SUFFIXES = (
    "localhost",
    "local",
    "localdomain",
    "internal",
    "intranet",
    "lan",
    "home",
    "corp",
    "private",
    "home.arpa",
    "arpa",
)
"""Names under these are never on the public internet (RFC 6761, RFC 8375, cloud and common private zones)."""
HOST_CHARACTERS = re.compile(r"^[a-z0-9_.-]+$")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


class AddressRefused(Exception):
    """The destination is not allowed by the outbound policy; `reason` says which rule, in Vietnamese first."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    """Lower-case, IDNA-encoded, without a trailing dot or IPv6 brackets."""
    port: int
    address: IPAddress | None
    """The host itself when it is a literal address."""


@dataclass(frozen=True)
class OutboundPolicy:
    allowed_hosts: frozenset[str] = frozenset()
    """Names (exact, or `*.example.vn` for every name under it) that may resolve to non-public addresses."""
    allowed_networks: tuple[IPNetwork, ...] = ()
    """Networks whose addresses are allowed although not public (an on-premises receiver's subnet)."""
    allow_http: bool = False
    """Plain http is refused unless this is set (local runs and tests)."""

    @classmethod
    def build(cls, hosts: Iterable[str], networks: Iterable[str], *, allow_http: bool) -> OutboundPolicy:
        return cls(
            allowed_hosts=frozenset(h.strip().lower().rstrip(".") for h in hosts if h.strip()),
            allowed_networks=tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks if n.strip()),
            allow_http=allow_http,
        )

    # -- what the URL alone tells ----------------------------------------------------------------------

    def refusal(self, url: str) -> str | None:
        """Why `url` may not be used (None: it may, subject to the connect-time check of its addresses)."""
        try:
            self.destination(url)
        except AddressRefused as refused:
            return refused.reason
        return None

    def destination(self, url: str) -> Destination:
        """The parsed destination of an allowed URL; `AddressRefused` for any rule it breaks."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise AddressRefused(f"{REFUSED}: not a valid URL ({exc})") from None
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme not in schemes:
            raise AddressRefused(f"{REFUSED}: the URL must start with {' or '.join(s + '://' for s in schemes)}")
        if parts.username is not None or parts.password is not None:
            raise AddressRefused(f"{REFUSED}: credentials in the URL are not accepted")
        host = _normal_host(parts.hostname or "")
        port = port if port is not None else (443 if parts.scheme == "https" else 80)
        address = literal_address(host)
        if address is not None:
            self.check_address(host, address)
            return Destination(parts.scheme, host, port, address)
        if not self.host_allowed(host):
            self.check_name(host)
        return Destination(parts.scheme, host, port, None)

    def host_allowed(self, host: str) -> bool:
        return host in self.allowed_hosts or any(
            h.startswith("*.") and host.endswith(h[1:]) for h in self.allowed_hosts
        )

    @staticmethod
    def check_name(host: str) -> None:
        if "." not in host:
            raise AddressRefused(f"{REFUSED}: '{host}' is a single-label (internal) name")
        for suffix in INTERNAL_SUFFIXES:
            if host == suffix or host.endswith("." + suffix):
                raise AddressRefused(f"{REFUSED}: '{host}' is an internal name (.{suffix})")

    def check_address(self, host: str, address: IPAddress) -> None:
        if any(address in network for network in self.allowed_networks):
            return
        kind = non_public_kind(address)
        if kind is not None:
            shown = host if host == str(address) else f"{host} = {address}"
            raise AddressRefused(f"{REFUSED}: {shown} is {kind}")

    # -- what the name resolves to ---------------------------------------------------------------------

    async def resolve(self, destination: Destination) -> list[IPAddress]:
        """Every address the destination's name resolves to, each vetted; `AddressRefused` if any is not allowed.

        One refused address refuses the name: a receiver that answers a mix of public and internal addresses
        would otherwise reach the internal one on some attempts.
        """
        if destination.address is not None:
            return [destination.address]
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(destination.host, destination.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpx.ConnectError(f"Không phân giải được tên (name does not resolve): {exc}") from None
        addresses: list[IPAddress] = []
        for *_, sockaddr in infos:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not self.host_allowed(destination.host):
            for address in addresses:
                self.check_address(destination.host, address)
        if not addresses:
            raise httpx.ConnectError("Không phân giải được tên (name resolves to no address)")
        return addresses


def _normal_host(hostname: str) -> str:
    host = hostname.strip().lower().rstrip(".")
    if not host:
        raise AddressRefused(f"{REFUSED}: the URL names no host")
    if ":" in host:  # an IPv6 literal (urlsplit has taken the brackets off)
        return host
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise AddressRefused(f"{REFUSED}: '{hostname}' is not a valid host name") from None
    if not HOST_CHARACTERS.match(host) or ".." in host:
        raise AddressRefused(f"{REFUSED}: '{hostname}' is not a valid host name")
    return host


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally, in every spelling a resolver accepts (`127.1`, `0x7f.1`, `2130706433`).

    `ipaddress` takes only the dotted-quad form, while `getaddrinfo` (inet_aton) also takes the short, octal,
    hexadecimal and single-number forms; reading them the resolver's way leaves no spelling unchecked.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not re.fullmatch(r"(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}", host):
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def non_public_kind(address: IPAddress) -> str | None:
    """What kind of non-public address this is (for the refusal), or None for a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is None and any(address in n for n in NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = non_public_kind(embedded)
            return None if inner is None else f"{inner} (embedded in an IPv6 address)"
    if address.is_unspecified:
        return "the unspecified address (this host)"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10"):
        return "a carrier-grade NAT address"
    if address.is_private:
        return "a private address"
    if address.is_reserved or not address.is_global:
        return "a reserved address"
    return None


class VettedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that resolves each request's host once, vets every address, and connects to the first.

    The request keeps its Host header and, over TLS, its SNI name and certificate check (httpcore's
    `sni_hostname` extension), so the receiver sees exactly the request the URL describes.
    """

    def __init__(self, policy: OutboundPolicy, **transport: Any) -> None:
        self.policy = policy
        self.inner = httpx.AsyncHTTPTransport(**transport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        destination = self.policy.destination(str(request.url))
        [address, *_] = await self.policy.resolve(destination)
        request.url = request.url.copy_with(host=str(address))
        if destination.scheme == "https":
            request.extensions = {**request.extensions, "sni_hostname": destination.host}
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
