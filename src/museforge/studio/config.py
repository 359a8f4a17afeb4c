"""The studio's settings: where it listens, who may reach it, how much an upload may hold."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field

from museforge.errors import UserError

TOKEN_ENV = "MUSEFORGE_TOKEN"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")
MIN_TOKEN_CHARS = 16  # a guessable token is no protection on a network


@dataclass(frozen=True)
class StudioConfig:
    """How the studio is served; the defaults suit one person on their own machine."""

    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None  # required on every request when set
    extra_hosts: tuple[str, ...] = ()  # Host header values allowed beyond loopback names
    max_upload_bytes: int = 20 * 1024 * 1024  # a large photo; more is almost surely a mistake
    max_upload_pixels: int = 40_000_000  # the image pipeline's own cap (image/io.py MAX_PIXELS)
    worker: bool = True  # run queued jobs in this process
    allowed_hosts: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        hosts = {"127.0.0.1", "localhost", "[::1]", *self.extra_hosts}
        if not is_loopback(self.host) and self.host not in ("0.0.0.0", "::"):
            hosts.add(self.host if ":" not in self.host else f"[{self.host}]")
        object.__setattr__(self, "allowed_hosts", tuple(sorted(hosts)))


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (127.0.0.0/8, ::1 or localhost)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def config_for(
    host: str = "127.0.0.1", port: int = 8000, extra_hosts: tuple[str, ...] = ()
) -> StudioConfig:
    """The settings for serving on ``host``: beyond loopback only with ``$MUSEFORGE_TOKEN``."""
    token = os.environ.get(TOKEN_ENV) or None
    if not is_loopback(host):
        if token is None:
            raise UserError(
                f"the studio listens on {host}, beyond this machine: set {TOKEN_ENV} to a secret "
                f"of at least {MIN_TOKEN_CHARS} characters first (every request must then carry it)"
            )
        if len(token) < MIN_TOKEN_CHARS:
            raise UserError(f"{TOKEN_ENV} is too short: use at least {MIN_TOKEN_CHARS} characters")
    if not 1 <= port <= 65535:
        raise UserError(f"a port is 1 to 65535, not {port}")
    return StudioConfig(host=host, port=port, token=token, extra_hosts=extra_hosts)
