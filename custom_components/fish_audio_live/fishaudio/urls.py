"""Server URLs: which are allowed, and the live socket's address."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "https://api.fish.audio"


class UnsafeUrlError(ValueError):
    """A server URL that must not receive the API key."""

    def __init__(self, reason: str) -> None:
        """`reason` is a translation key: invalid_url or insecure_url."""
        super().__init__(reason)
        self.reason = reason


def normalize_url(url: str) -> str:
    """Check and tidy a server URL.

    https is always allowed; plain http only for loopback and private-network
    hosts (self-hosted servers, local testing), so the key never crosses the
    internet in clear text.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrlError("invalid_url")
    try:
        _ = parts.port
    except ValueError as err:
        raise UnsafeUrlError("invalid_url") from err
    if parts.query or parts.fragment or parts.username or parts.password:
        raise UnsafeUrlError("invalid_url")
    if parts.scheme == "http" and not is_local_host(parts.hostname):
        raise UnsafeUrlError("insecure_url")
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path.rstrip("/"), "", ""))


def is_local_host(host: str) -> bool:
    """Loopback, private or link-local addresses, localhost and .local names."""
    if host == "localhost" or host.endswith((".local", ".localhost")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def live_url(base_url: str) -> str:
    """The live socket's URL: wss for https, ws for http."""
    parts = urlsplit(base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/v1/tts/live", "", ""))
