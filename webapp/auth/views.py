"""Sign-in, dev sign-in and sign-out pages."""

from __future__ import annotations

import re

from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request, url_for

from webapp.auth.tokens import DEV_TOKEN_LIFETIME, issue_dev_token
from webapp.extensions import limiter

bp = Blueprint("auth", __name__)

USER_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,}$")


def _clerk_configured() -> bool:
    return bool(current_app.config["CLERK_CONFIGURED"])


def _set_session_cookie(response, token: str, max_age: int) -> None:
    response.set_cookie(
        "__session",
        token,
        max_age=max_age,
        httponly=True,
        secure=current_app.config["PRODUCTION"],
        samesite="Lax",
        path="/",
    )


def _landing(next_path: str | None, *, admin: bool) -> str:
    """Where sign-in ends: the page asked for, else the admin dashboard for admins, else the catalog.

    The catalog's own path (what the header's Sign in link sends from the home page) counts as
    no particular page, so an admin who signs in from there still lands on /admin.
    """
    if next_path and next_path.rstrip("?") != "/":
        return next_path
    return url_for("admin.dashboard") if admin else "/"


@bp.get("/sign-in")
def sign_in():
    from webapp.auth import safe_next

    next_path = safe_next(request.args.get("next"))
    if g.get("user") is not None:
        return redirect(_landing(next_path, admin=bool(g.get("is_admin"))))
    if not _clerk_configured():
        return redirect(url_for("auth.dev_sign_in", next=next_path))
    return render_template(
        "auth/sign_in.html",
        # Without a particular page to return to, ClerkJS comes back to `signed_in`, which picks
        # the landing page knowing who signed in.
        next_path=next_path if next_path and next_path.rstrip("?") != "/" else url_for("auth.signed_in"),
        publishable_key=current_app.config["CLERK_PUBLISHABLE_KEY"],
        frontend_api=current_app.config["CLERK_ISSUER"],
    )


@bp.route("/dev/sign-in", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def dev_sign_in():
    from webapp.auth import safe_next

    if _clerk_configured():
        abort(404)
    next_path = safe_next(request.values.get("next"))
    form = {"user_id": "", "email": "", "name": "", "admin": False}
    errors: dict[str, str] = {}
    if request.method == "POST":
        form = {
            "user_id": request.form.get("user_id", "").strip(),
            "email": request.form.get("email", "").strip(),
            "name": request.form.get("name", "").strip()[:255],
            "admin": request.form.get("admin") in {"on", "1", "true", "yes"},
        }
        if not USER_ID_RE.match(form["user_id"]):
            errors["user_id"] = "Use 1–64 letters, digits, dots, dashes or underscores."
        if form["email"] and not EMAIL_RE.match(form["email"]):
            errors["email"] = "Enter a valid email address, or leave it empty."
        if not errors:
            token = issue_dev_token(
                current_app,
                form["user_id"],
                email=form["email"] or None,
                name=form["name"] or None,
                admin=form["admin"],
            )
            response = redirect(_landing(next_path, admin=form["admin"]), code=303)
            _set_session_cookie(response, token, DEV_TOKEN_LIFETIME)
            return response
    status = 400 if errors else 200
    return render_template("auth/dev_sign_in.html", form=form, errors=errors, next_path=next_path or ""), status


@bp.get("/signed-in")
def signed_in():
    """After an external sign-in (ClerkJS): the page asked for, or the admin dashboard for admins."""
    from webapp.auth import safe_next

    if g.get("user") is None:
        return redirect(url_for("auth.sign_in", next=safe_next(request.args.get("next"))))
    return redirect(_landing(safe_next(request.args.get("next")), admin=bool(g.get("is_admin"))))


@bp.post("/sign-out")
def sign_out():
    if _clerk_configured():
        # The session lives at Clerk: ClerkJS ends it there, then comes back to the catalog.
        response = make_response(
            render_template(
                "auth/sign_out.html",
                publishable_key=current_app.config["CLERK_PUBLISHABLE_KEY"],
                frontend_api=current_app.config["CLERK_ISSUER"],
            )
        )
    else:
        response = make_response(redirect(url_for("catalog.index"), code=303))
    response.delete_cookie("__session", path="/", samesite="Lax", secure=current_app.config["PRODUCTION"])
    return response
