"""Users, upserted from verified session claims."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from webapp import speedups
from webapp.extensions import db
from webapp.models import User
from webapp.services.transactions import unit_of_work


def ensure_user(user_id: str, *, email: str | None, name: str | None) -> tuple[str | None, str | None]:
    """Makes sure the row for a verified `sub` exists and is current; returns (email, name).

    The per-request call: a user this process has already seen with the same claims costs
    no SQL and builds no ORM object (webapp.speedups). Otherwise it stores the claims as
    `upsert_user` does.
    """
    seen = speedups.known_user(user_id, email=email, name=name)
    if seen is not None:
        return seen
    return _store_claims_once_raced(user_id, email, name)[1]


def user_row(user_id: str) -> User:
    """The ORM row of a user `ensure_user` has seen, attached without a SELECT when possible."""
    seen = speedups.seen_user(user_id)
    if seen is not None or speedups.in_session(User, user_id) is not None:
        return _attached(user_id, seen)
    user = db.session.get(User, user_id)
    if user is None:
        raise LookupError(f"unknown user {user_id}")
    return user


def forget_users() -> None:
    """Empties the cache of seen users (for whoever deletes users behind the app's back)."""
    speedups.forget_users()


def upsert_user(user_id: str, *, email: str | None, name: str | None) -> User:
    """Returns the user row for a verified `sub`, creating it on first sight.

    Writes only when the row is new or the claims carry a changed email or name; a user this
    process has already seen with the same claims costs no SQL. Two first requests racing
    are resolved by the primary key: the loser reads the winner's row.
    """
    seen = speedups.known_user(user_id, email=email, name=name)
    if seen is not None:
        return _attached(user_id, seen)
    return _store_claims_once_raced(user_id, email, name)[0]


def _attached(user_id: str, seen: tuple[str | None, str | None] | None) -> User:
    email, name = seen if seen is not None else (None, None)
    return speedups.attach_known(User, user_id, email=email, name=name)


def _store_claims_once_raced(
    user_id: str, email: str | None, name: str | None
) -> tuple[User, tuple[str | None, str | None]]:
    """`_store_claims`, tried a second time when a concurrent first request inserted the
    same user between our read and our insert (the primary key refused ours): the second
    try reads that row and updates it if the claims differ."""
    try:
        return _store_claims(user_id, email, name)
    except IntegrityError:
        return _store_claims(user_id, email, name)


def _store_claims(user_id: str, email: str | None, name: str | None) -> tuple[User, tuple[str | None, str | None]]:
    """Reads the row, writes it in one unit of work if it is new or a claim changed, and
    returns it with its (email, name), which it remembers for the next request."""
    user = db.session.get(User, user_id)
    if user is None or (email and user.email != email) or (name and user.name != name):
        with unit_of_work():
            if user is None:
                user = User(id=user_id, email=email, name=name)
                db.session.add(user)
            else:
                if email and user.email != email:
                    user.email = email
                if name and user.name != name:
                    user.name = name
            stored = (user.email, user.name)
    else:
        stored = (user.email, user.name)
    speedups.remember_user(user_id, *stored)
    return user, stored
