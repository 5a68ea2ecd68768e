"""`flask` commands: seed, courses, coupons, dev token, payments."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext

from webapp.services.errors import ServiceError


class IsoDateTime(click.ParamType):
    name = "ISO-8601"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
        except ValueError:
            self.fail(f"{value!r} is not an ISO-8601 date or datetime (e.g. 2026-12-31T23:59:59Z)", param, ctx)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


def _fail(exc: ServiceError) -> None:
    field = f" ({exc.field})" if exc.field else ""
    raise click.ClickException(f"{exc.message}{field}")


courses_cli = AppGroup("courses", help="Manage courses.")
coupons_cli = AppGroup("coupons", help="Manage coupons.")
dev_cli = AppGroup("dev", help="Development helpers (dev sign-in only).")
payments_cli = AppGroup("payments", help="Payment operations: expiry, reconciliation, replay.")


@courses_cli.command("create")
@click.option("--slug", required=True)
@click.option("--title", required=True)
@click.option("--price", required=True, type=int, help="Minor units (4999 = $49.99); 0 = free.")
@click.option("--currency", required=True, help="ISO code, e.g. usd, eur, jpy.")
@click.option("--id", "course_id", default=None, help="Explicit course id (default: generated).")
@click.option("--lectures", default=0, type=int, show_default=True)
@click.option("--unpublished", is_flag=True, help="Create it hidden from the catalog.")
@click.option("--description", default="")
@click.option(
    "--installments",
    type=click.IntRange(2, 12),
    default=None,
    help="Also offer it in N monthly installments (2–12).",
)
def create_course_command(slug, title, price, currency, course_id, lectures, unpublished, description, installments):
    """Create a course and print its id (last line)."""
    from webapp.services.courses import create_course

    try:
        course = create_course(
            slug=slug,
            title=title,
            price=price,
            currency=currency,
            course_id=course_id,
            total_lectures=lectures,
            published=not unpublished,
            short_description=description,
            installments=installments,
        )
    except ServiceError as exc:
        _fail(exc)
    click.echo(course.id)


class InstallmentCount(click.ParamType):
    """2–12, or `off` (also `none`, `0`) for not offered."""

    name = "N|off"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text in {"off", "none", "0"}:
            return None
        if text.isdigit() and 2 <= int(text) <= 12:
            return int(text)
        self.fail(f"{value!r} is not a number of installments from 2 to 12, nor 'off'.", param, ctx)


@courses_cli.command("installments")
@click.argument("course")
@click.argument("count", type=InstallmentCount())
def course_installments_command(course, count):
    """Offer COURSE (id or slug) in COUNT monthly installments (2–12), or stop offering them (off)."""
    from webapp.services.courses import find_course, set_installments

    try:
        changed = set_installments(find_course(course).id, count, actor="cli")
    except ServiceError as exc:
        _fail(exc)
    offer = f"in {changed.installments} monthly installments" if changed.installments else "in full only"
    click.echo(f"{changed.slug} is now offered {offer}.")
    click.echo(changed.id)


@coupons_cli.command("create")
@click.option("--code", required=True)
@click.option("--type", "discount_type", required=True, help="percentage or fixed")
@click.option("--value", required=True, help="Percent (12.5) for percentage; minor units for fixed.")
@click.option("--currency", default=None, help="Required for fixed coupons.")
@click.option("--max-uses", type=int, default=None)
@click.option("--max-uses-per-user", type=int, default=None)
@click.option("--valid-from", type=IsoDateTime(), default=None)
@click.option("--valid-until", type=IsoDateTime(), default=None)
@click.option("--minimum-amount", type=int, default=None, help="Minor units.")
@click.option("--maximum-discount", type=int, default=None, help="Minor units.")
@click.option("--courses", default=None, help="Comma-separated course ids the coupon is limited to.")
@click.option("--inactive", is_flag=True)
@click.option("--public", "is_public", is_flag=True, help="List it to learners as an active offer.")
def create_coupon_command(
    code,
    discount_type,
    value,
    currency,
    max_uses,
    max_uses_per_user,
    valid_from,
    valid_until,
    minimum_amount,
    maximum_discount,
    courses,
    inactive,
    is_public,
):
    """Create a coupon and print its id (last line)."""
    from webapp.services.coupons import create_coupon

    course_ids = [c.strip() for c in courses.split(",") if c.strip()] if courses else []
    try:
        coupon = create_coupon(
            code=code,
            discount_type=discount_type,
            value=value,
            currency=currency,
            max_uses=max_uses,
            max_uses_per_user=max_uses_per_user,
            valid_from=valid_from,
            valid_until=valid_until,
            minimum_amount=minimum_amount,
            maximum_discount=maximum_discount,
            course_ids=course_ids,
            is_active=not inactive,
            is_public=is_public,
            actor="cli",
        )
    except ServiceError as exc:
        _fail(exc)
    click.echo(coupon.id)


@dev_cli.command("token")
@click.argument("user_id")
@click.option("--admin", is_flag=True)
@click.option("--email", default=None)
@click.option("--name", default=None)
def dev_token_command(user_id, admin, email, name):
    """Print a dev session token for USER_ID (last line), for `Authorization: Bearer`."""
    from webapp.auth.tokens import issue_dev_token
    from webapp.auth.views import USER_ID_RE

    if current_app.config["CLERK_CONFIGURED"]:
        raise click.ClickException("Dev tokens are disabled because Clerk is configured.")
    if not USER_ID_RE.match(user_id):
        raise click.ClickException("USER_ID must be 1–64 letters, digits, dots, dashes or underscores.")
    click.echo(issue_dev_token(current_app, user_id, email=email, name=name, admin=admin))


@payments_cli.command("expire")
def payments_expire_command():
    """Mark overdue PENDING checkouts EXPIRED, expire them at Stripe and release their coupons."""
    from webapp.services.checkout import expire_overdue

    expired = expire_overdue()
    for session_id in expired:
        click.echo(f"expired {session_id}")
    click.echo(f"Expired {len(expired)} overdue checkout session(s).")


@click.command("seed")
@with_appcontext
def seed_command():
    """Add the demo catalog and coupons (idempotent: existing slugs and codes are kept)."""
    from webapp.services.seed import seed_demo_data

    created = seed_demo_data()
    click.echo(f"Seeded {created['courses']} new course(s) and {created['coupons']} new coupon(s).")


@payments_cli.command("reconcile")
@click.option("--since", "since_hours", type=float, default=None, help="Only sessions created in the last HOURS.")
def reconcile_command(since_hours):
    """Repair PENDING/PROCESSING sessions from Stripe's state (safe alongside webhooks; run from cron)."""
    from webapp.services.webhooks import reconcile

    lines = reconcile(since_hours=since_hours)
    for line in lines:
        click.echo(line)
    click.echo(f"Reconciled: {len(lines)} change(s).")


@payments_cli.command("replay")
@click.argument("event_id")
def replay_command(event_id):
    """Reprocess a stored Stripe event by id."""
    from webapp.services.webhooks import replay_event

    click.echo(replay_event(event_id, actor="cli"))


mail_cli = AppGroup("mail", help="Learner emails.")


@mail_cli.command("send")
def send_mail_command():
    """Send queued emails now (retries failed sends; run from cron as a safety net)."""
    from webapp.services.mail import deliver_pending

    if not current_app.config.get("MAIL_SERVER"):
        raise click.ClickException("MAIL_SERVER is not set: emails stay in the outbox (see /dev/mail).")
    click.echo(f"Sent {deliver_pending()} email(s).")


def init_app(app: Flask) -> None:
    for group in (courses_cli, coupons_cli, dev_cli, payments_cli, mail_cli):
        app.cli.add_command(group)
    app.cli.add_command(seed_command)
