"""Who is asking: anonymous (by client address), an API key, or a user token."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from alphacut.domain.network import caller_network


class Channel(Enum):
    API = "api"
    APP = "app"


@dataclass(frozen=True)
class Principal:
    client_address: str
    user_id: str | None = None
    channel: Channel = Channel.API
    plan: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.user_id is None

    @property
    def rate_bucket(self) -> str:
        """One short-window rate limit per user (all their keys and tokens), or per address."""
        return f"rate:user:{self.user_id}" if self.user_id else f"rate:anon:{self.network}"

    @property
    def network(self) -> str:
        """The anonymous caller's address for limits (an IPv6 /64 counts as one)."""
        return caller_network(self.client_address)
