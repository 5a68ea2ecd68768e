"""The demo catalog `make run` starts with."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.extensions import db
from webapp.models import Coupon, Course
from webapp.services.coupons import create_coupon
from webapp.services.courses import create_course

DEMO_COURSES = [
    {
        "slug": "python-for-data-analysis",
        "title": "Python for Data Analysis",
        "price": 4999,
        "currency": "usd",
        "total_lectures": 42,
        "short_description": "From spreadsheets to pandas: clean, reshape and chart real data sets.",
        "description": (
            "You will load messy CSV exports, tidy them with pandas, join tables, and answer questions "
            "with group-bys and pivot tables.\n\nEach module ends with a small project on a public data "
            "set, and the last one is a complete analysis you can show to a hiring manager."
        ),
    },
    {
        "slug": "web-apps-with-flask",
        "title": "Building Web Apps with Flask",
        "price": 7900,
        "currency": "usd",
        "installments": 3,  # the demo's installment plan: $26.34 today, then 2 × $26.33
        "total_lectures": 58,
        "short_description": "Blueprints, forms, databases and deployment — a production-shaped Flask app.",
        "description": (
            "Start from an empty folder and finish with a deployed app: application factory, blueprints, "
            "SQLAlchemy models and migrations, forms with CSRF protection, tests and a CI pipeline."
        ),
    },
    {
        "slug": "intro-to-git",
        "title": "Git in an Afternoon",
        "price": 0,
        "currency": "usd",
        "total_lectures": 9,
        "short_description": "Commits, branches and pull requests, explained without the jargon. Free.",
        "description": "A short, free course covering the everyday Git workflow used by most teams.",
    },
    {
        "slug": "ux-writing-essentials",
        "title": "UX Writing Essentials",
        "price": 2500,
        "currency": "eur",
        "total_lectures": 24,
        "short_description": "Write buttons, errors and onboarding copy that people actually read.",
        "description": (
            "Microcopy, voice and tone, error messages that help, and how to test words with users. "
            "Taught with before-and-after examples from real products."
        ),
    },
    {
        "slug": "japanese-for-travellers",
        "title": "Japanese for Travellers",
        "price": 5000,
        "currency": "jpy",
        "total_lectures": 30,
        "short_description": "Order food, ask for directions and read signs on your first trip to Japan.",
        "description": "Hiragana and katakana basics plus the 300 phrases you will use most as a visitor.",
    },
    {
        "slug": "sql-fundamentals",
        "title": "SQL Fundamentals",
        "price": 3900,
        "currency": "gbp",
        "total_lectures": 36,
        "short_description": "SELECT to window functions, with PostgreSQL and exercises on real schemas.",
        "description": "Joins, aggregates, subqueries, indexes and transactions, with hands-on exercises.",
    },
]

DEMO_COUPONS = [
    {
        "code": "WELCOME10",
        "discount_type": "percentage",
        "value": "10",
        "is_public": True,
        "description": "10 % off any course for new learners.",
    },
    {
        "code": "LAUNCH25",
        "discount_type": "percentage",
        "value": "25",
        "max_uses": 100,
        "maximum_discount": 2000,
        "description": "25 % off, up to $20.",
    },
    {
        "code": "SAVE5",
        "discount_type": "fixed",
        "value": "500",
        "currency": "usd",
        "minimum_amount": 2000,
        "description": "$5 off USD courses of $20 or more.",
    },
    {
        "code": "FULLPASS",
        "discount_type": "percentage",
        "value": "100",
        "max_uses": 10,
        "max_uses_per_user": 1,
        "description": "100 % off: enrolls without payment.",
    },
]


def seed_demo_data() -> dict[str, int]:
    """Creates whichever demo courses and coupons are missing; returns how many were new."""
    created = {"courses": 0, "coupons": 0}
    for spec in DEMO_COURSES:
        if db.session.scalar(sa.select(Course.id).where(Course.slug == spec["slug"])) is None:
            create_course(**spec)
            created["courses"] += 1
    for spec in DEMO_COUPONS:
        if db.session.scalar(sa.select(Coupon.id).where(Coupon.code == spec["code"])) is None:
            create_coupon(**spec)
            created["coupons"] += 1
    return created
