"""Users, upserted from verified session claims."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from webapp.extensions import db
from webapp.models import User


def upsert_user(user_id: str, *, email: str | None, name: str | None) -> User:
    """Returns the user row for a verified `sub`, creating it on first sight.

    Writes only when the row is new or the claims carry a changed email or name, so an
    ordinary request costs one SELECT. Two first requests racing are resolved by the
    primary key: the loser re-reads the winner's row.
    """
    user = db.session.get(User, user_id)
    if user is None:
        try:
            with db.session.begin_nested():
                user = User(id=user_id, email=email, name=name)
                db.session.add(user)
            db.session.commit()
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
    return user
