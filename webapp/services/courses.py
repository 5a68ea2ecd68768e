"""Creating courses and changing their installment offer (CLI and admin)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Course
from webapp.services import audit
from webapp.services.errors import NotFound, ValidationFailed
from webapp.services.money import format_money, is_supported, minimum_charge
from webapp.services.pricing import (
    MAX_INSTALLMENTS,
    MIN_INSTALLMENTS,
    InstallmentSplit,
    InstallmentTooSmall,
    split_if_possible,
    split_installments,
)
from webapp.services.transactions import unit_of_work

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,32}$")


def create_course(
    *,
    slug: str,
    title: str,
    price: int,
    currency: str,
    course_id: str | None = None,
    short_description: str = "",
    description: str = "",
    total_lectures: int = 0,
    published: bool = True,
    installments: int | None = None,
) -> Course:
    """Creates a course; raises ValidationFailed naming the field for any bad value.

    `price` is in minor units (0 = free). Slugs are unique; so are ids. `installments`
    (2–12, or None) offers the course in that many monthly installments too.
    """
    slug = slug.strip().lower()
    title = title.strip()
    currency = currency.strip().lower()
    if not SLUG_RE.match(slug) or len(slug) > 120:
        raise ValidationFailed("Slug must be lower-case letters, digits and single dashes (max 120).", field="slug")
    if not title or len(title) > 200:
        raise ValidationFailed("Title is required (max 200 characters).", field="title")
    if isinstance(price, bool) or not isinstance(price, int) or price < 0:
        raise ValidationFailed("Price must be a whole number of minor units, 0 or more.", field="price")
    if price > 99_999_999:
        raise ValidationFailed("Price is larger than Stripe accepts.", field="price")
    if not is_supported(currency):
        raise ValidationFailed(f"Unknown or unsupported currency {currency.upper()!r}.", field="currency")
    if total_lectures < 0 or total_lectures > 100_000:
        raise ValidationFailed("Lectures must be between 0 and 100000.", field="lectures")
    if course_id is not None and not ID_RE.match(course_id):
        raise ValidationFailed("Id must be 1–32 letters, digits, dashes or underscores.", field="id")
    check_installments(installments, price=price, currency=currency)
    if db.session.scalar(sa.select(Course.id).where(Course.slug == slug)) is not None:
        raise ValidationFailed(f"A course with slug {slug!r} already exists.", field="slug")
    if course_id is not None and db.session.get(Course, course_id) is not None:
        raise ValidationFailed(f"A course with id {course_id!r} already exists.", field="id")
    with unit_of_work(
        on_conflict=lambda _: ValidationFailed("A course with that slug or id already exists.", field="slug")
    ):
        course = Course(
            slug=slug,
            title=title,
            price=price,
            currency=currency,
            short_description=short_description,
            description=description,
            total_lectures=total_lectures,
            published=published,
            installments=installments,
        )
        if course_id is not None:
            course.id = course_id
        db.session.add(course)
    return course


def check_installments(installments: int | None, *, price: int, currency: str) -> None:
    """ValidationFailed (field "installments") unless a course at `price` may be offered in
    `installments` monthly installments: 2–12, a paid course, each installment at least
    Stripe's minimum charge. None (not offered) always passes."""
    if installments is None:
        return
    if isinstance(installments, bool) or not isinstance(installments, int):
        raise ValidationFailed("Installments must be a whole number from 2 to 12.", field="installments")
    if not MIN_INSTALLMENTS <= installments <= MAX_INSTALLMENTS:
        raise ValidationFailed(
            f"Installments must be from {MIN_INSTALLMENTS} to {MAX_INSTALLMENTS} (or none).", field="installments"
        )
    if price == 0:
        raise ValidationFailed("A free course can't be offered in installments.", field="installments")
    try:
        split_installments(price, installments, currency)
    except InstallmentTooSmall:
        regular, minimum = price // installments, minimum_charge(currency)
        raise ValidationFailed(
            f"{format_money(price, currency)} in {installments} installments would charge "
            f"{format_money(regular, currency)} a month, below the smallest card payment possible in "
            f"{currency.upper()} ({format_money(minimum, currency)}). Choose fewer installments.",
            field="installments",
        ) from None


def get_course(course_id: str) -> Course:
    """The course with this id (published or not); NotFound otherwise."""
    course = db.session.get(Course, course_id) if ID_RE.match(course_id) else None
    if course is None:
        raise NotFound("That course does not exist.")
    return course


def offered_split(course: Course) -> InstallmentSplit | None:
    """The split of the course's full price over the installments it offers (None: not offered,
    or no longer possible at its price)."""
    if not course.installments:
        return None
    return split_if_possible(course.price, course.installments, course.currency)


def installment_choices(course: Course) -> list[tuple[int, InstallmentSplit | None]]:
    """Each count a course may be offered in (2–12) with the split of its price, or None
    where an installment would fall below Stripe's minimum charge (or the course is free)."""
    return [
        (count, split_if_possible(course.price, count, course.currency))
        for count in range(MIN_INSTALLMENTS, MAX_INSTALLMENTS + 1)
    ]


def find_course(slug_or_id: str) -> Course:
    """The course with this id, else with this slug (published or not); NotFound otherwise."""
    key = slug_or_id.strip()
    course = db.session.get(Course, key) if ID_RE.match(key) else None
    if course is None:
        course = db.session.scalar(sa.select(Course).where(Course.slug == key.lower()))
    if course is None:
        raise NotFound(f"No course has the id or slug {key[:120]!r}.")
    return course


def set_installments(course_id: str, installments: int | None, *, actor: str) -> Course:
    """Offers the course in `installments` monthly installments (None: stops offering it).

    Checkouts already opened keep the plan they were opened with; only new checkouts see the
    change. Audit-logged as "course.installments_changed" when the value changes (no-op
    otherwise). Raises NotFound / ValidationFailed (field "installments"), changing nothing.
    """
    with unit_of_work():
        course = db.session.get(Course, course_id, with_for_update=True)
        if course is None:
            raise NotFound("That course does not exist.")
        check_installments(installments, price=course.price, currency=course.currency)
        if course.installments != installments:
            audit.record(
                "course.installments_changed",
                entity_type="course",
                entity_id=course.id,
                actor=actor,
                slug=course.slug,
                changes={"installments": {"from": course.installments, "to": installments}},
            )
            course.installments = installments
    return course
