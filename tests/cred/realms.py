"""A realm, avatars, Viewables and a counting root shared by the socket tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pbtyped as pb
from pbtyped.cred import Avatar, LoginResult, Viewable


class Board(Viewable):
    """Notes every user may read, signed with the name of the avatar that wrote them."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def view_write(self, avatar: User, text: str) -> int:
        self.notes.append(f"{avatar.name}: {text}")
        return len(self.notes)

    def view_whoami(self, avatar: User) -> str:
        return avatar.name

    def view_same(self, avatar: User, other: object) -> bool:
        return other is self

    def view_myself(self, avatar: User) -> Board:
        return self


class User(Avatar):
    """One login's avatar."""

    def __init__(self, name: str, realm: Realm, mind: pb.RemoteReference | None) -> None:
        self.name = name
        self.realm = realm
        self.mind = mind
        self.secret = f"{name}'s secret"

    def perspective_whoami(self) -> str:
        return self.name

    def perspective_board(self) -> Board:
        return self.realm.board

    def perspective_boards(self) -> dict[str, list[Board]]:
        return {"all": [self.realm.board, self.realm.board]}

    async def perspective_board_later(self) -> Board:
        return self.realm.board

    def perspective_is_board(self, board: object) -> bool:
        return board is self.realm.board

    async def perspective_ping_mind(self, text: str) -> Any:
        assert self.mind is not None
        return await self.mind.call_remote("ping", text)

    def remote_secret(self) -> str:  # an Avatar's remote_* methods are not perspective methods
        return self.secret

    def perspective_boom(self) -> None:
        raise pb.Error("expected failure")


@dataclass
class Realm:
    """Makes one ``User`` per login and records logins and logouts."""

    board: Board = field(default_factory=Board)
    logins: list[str | None] = field(default_factory=list)
    logouts: list[str | None] = field(default_factory=list)
    active: dict[int, User] = field(default_factory=dict)

    def request_avatar(self, user_id: str | None, mind: pb.RemoteReference | None) -> LoginResult:
        name = user_id if user_id is not None else "anonymous"
        avatar = User(name, self, mind)
        key = id(avatar)
        self.active[key] = avatar
        self.logins.append(user_id)

        def logout() -> None:
            self.logouts.append(user_id)
            del self.active[key]

        return avatar, logout


class Mind(pb.Referenceable):
    """A client-side object the server may call back."""

    def __init__(self) -> None:
        self.pings: list[str] = []

    def remote_ping(self, text: str) -> str:
        self.pings.append(text)
        return text.upper()


class Counting(pb.Root):
    """A root that counts the calls that reached it."""

    def __init__(self) -> None:
        self.calls = 0

    def remote_hello(self) -> str:
        self.calls += 1
        return "hello"
