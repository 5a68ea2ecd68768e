"""Users, upserted from verified session claims."""

from __future__ import annotations

from collections import OrderedDict

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.util import identity_key

from webapp.extensions import db
from webapp.models import User

SEEN_USERS_MAX = 10_000


def _seen() -> OrderedDict[str, tuple[str | None, str | None]]:
    """user id -> (email, name) as this app in this process last read or wrote them.

    The app never deletes users, so a row seen once exists; the cache only saves re-reading
    it on every request. Per app object, so a test's fresh app starts empty.
    """
    return current_app.extensions.setdefault("seen_users", OrderedDict())


def _remember(user: User) -> None:
    seen = _seen()
    seen[user.id] = (user.email, user.name)
    seen.move_to_end(user.id)
    while len(seen) > SEEN_USERS_MAX:
        seen.popitem(last=False)


def forget_users() -> None:
    """Empties the cache of seen users (for whoever deletes users behind the app's back)."""
    _seen().clear()


def _unchanged(user_id: str, email: str | None, name: str | None) -> tuple[str | None, str | None] | None:
    seen = _seen().get(user_id)
    if seen is None or (email and seen[0] != email) or (name and seen[1] != name):
        return None
    return seen


def _attached(user_id: str, seen: tuple[str | None, str | None] | None) -> User:
    """The session's copy of a user, else one attached by primary key from what was `seen` (no SELECT)."""
    known = db.session.identity_map.get(identity_key(User, user_id))
    if known is not None:
        return known
    user = User(id=user_id, email=seen[0], name=seen[1])
    make_transient_to_detached(user)
    db.session.add(user)
    return user


def ensure_user(user_id: str, *, email: str | None, name: str | None) -> tuple[str | None, str | None]:
    """Makes sure the row for a verified `sub` exists and is current; returns (email, name).

    The per-request call: a user this process has already seen with the same claims costs
    no SQL and builds no ORM object (most requests only need the id). Otherwise it is
    `upsert_user`.
    """
    seen = _unchanged(user_id, email, name)
    if seen is not None:
        return seen
    user = upsert_user(user_id, email=email, name=name)
    return user.email, user.name


def user_row(user_id: str) -> User:
    """The ORM row of a user `ensure_user` has seen, attached without a SELECT when possible."""
    seen = _seen().get(user_id)
    if seen is None and db.session.identity_map.get(identity_key(User, user_id)) is None:
        user = db.session.get(User, user_id)
        if user is None:
            raise LookupError(f"unknown user {user_id}")
        return user
    return _attached(user_id, seen)


def upsert_user(user_id: str, *, email: str | None, name: str | None) -> User:
    """Returns the user row for a verified `sub`, creating it on first sight.

    Writes only when the row is new or the claims carry a changed email or name. A user this
    process has already seen with the same claims costs no SQL at all: the row is attached to
    the session by its primary key without a SELECT (its other columns, such as the Stripe
    customer id, load on first access). Two first requests racing are resolved by the primary
    key: the loser re-reads the winner's row.
    """
    seen = _unchanged(user_id, email, name)
    if seen is not None:
        return _attached(user_id, seen)
    user = db.session.get(User, user_id)
    if user is None:
        try:
            with db.session.begin_nested():
                user = User(id=user_id, email=email, name=name)
                db.session.add(user)
            db.session.commit()
            _remember(user)
            return user
        except IntegrityError:
            db.session.rollback()
            user = db.session.scalar(sa.select(User).where(User.id == user_id))
            if user is None:
                raise
    changed = False
    if email and user.email != email:
        user.email = email
        changed = True
    if name and user.name != name:
        user.name = name
        changed = True
    if changed:
        db.session.commit()
    _remember(user)
    return user
