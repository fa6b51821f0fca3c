"""Keepalive and GOODBYE on one connection: the features, and who said goodbye.

Both features are offered by every pbtyped side (``messages.FEATURES``) and used when both
Hellos list them. A ``Farewell`` is made only once a GOODBYE is sent or received: most
connections never hold one.
"""

from __future__ import annotations

from .._exceptions import GoingAway

__all__ = ["GOODBYE", "KEEPALIVE", "Farewell"]

#: The Hello feature of kinds 11 PING and 12 PONG.
KEEPALIVE = "keepalive"
#: The Hello feature of kind 13 GOODBYE.
GOODBYE = "goodbye"


class Farewell:
    """What was said of the end of one connection: the reason of our GOODBYE (``ours``, None
    until we leave) and of the peer's (``theirs``, None until it arrives)."""

    __slots__ = ("ours", "theirs")

    def __init__(self) -> None:
        self.ours: str | None = None
        self.theirs: str | None = None

    def refused(self) -> GoingAway:
        """The answer to a call the peer made after our GOODBYE: it did not run."""
        return GoingAway(f"the peer is going away ({self.ours}); this call did not run")

    def unsent(self) -> GoingAway:
        """What a call of ours raises once the peer said GOODBYE: it was not sent."""
        return GoingAway(
            f"the peer is going away ({self.theirs}); no new call starts on this connection, "
            "and this one was not sent"
        )
