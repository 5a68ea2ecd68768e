"""Creating courses (CLI and admin)."""

from __future__ import annotations

import re

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Course
from webapp.services.errors import ValidationFailed
from webapp.services.money import is_supported
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
) -> Course:
    """Creates a course; raises ValidationFailed naming the field for any bad value.

    `price` is in minor units (0 = free). Slugs are unique; so are ids.
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
        )
        if course_id is not None:
            course.id = course_id
        db.session.add(course)
    return course
