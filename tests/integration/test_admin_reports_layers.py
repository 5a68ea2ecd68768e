"""Admin reports after the split: one keyset pager for every list, filters from the enums,
forms read by the web layer into the services' types."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest

ADMIN = "admin_1"


def _events(app, count: int, *, status: str = "PROCESSED") -> list[str]:
    from webapp.extensions import db
    from webapp.models import StripeEvent

    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = [f"evt_page_{i:02d}" for i in range(count)]
    with app.app_context():
        for i, event_id in enumerate(ids):
            # Pairs share a timestamp, so the id must break the tie.
            at = start + timedelta(minutes=i // 2)
            db.session.add(StripeEvent(id=event_id, type="t.test", payload={}, status=status, received_at=at))
        db.session.commit()
    return ids


class TestEventFilter:
    def test_offers_every_event_status_of_the_enum(self, client, auth):
        from webapp.models.enums import StripeEventStatus

        auth.sign_in(ADMIN, admin=True)
        page = html.unescape(client.get("/admin/events").get_data(as_text=True))
        for status in StripeEventStatus:
            assert f'<option value="{status.value}"' in page

    def test_filters_by_status_in_any_case_and_refuses_unknown(self, app, client, auth):
        _events(app, 2, status="FAILED")
        auth.sign_in(ADMIN, admin=True)
        assert "evt_page_00" in client.get("/admin/events?status=failed").get_data(as_text=True)
        assert "evt_page_00" not in client.get("/admin/events?status=IGNORED").get_data(as_text=True)
        refused = client.get("/admin/events?status=LOST")
        assert refused.status_code == 400
        assert "Unknown event status" in html.unescape(refused.get_data(as_text=True))


class TestKeysetPager:
    @pytest.mark.parametrize("limit", [1, 2, 3])
    def test_event_pages_cover_every_row_once_in_order(self, app, limit):
        from webapp.services.reports.activity import list_events

        ids = _events(app, 7)
        with app.app_context():
            seen, after = [], ""
            while True:
                page = list_events(after=after, limit=limit)
                seen += [e.id for e in page.rows]
                if not page.next_cursor:
                    break
                after = page.next_cursor
        assert seen == list(reversed(ids))

    def test_a_cursor_it_did_not_write_is_refused(self, app):
        from webapp.services.errors import ValidationFailed
        from webapp.services.reports.activity import list_payments

        with app.app_context(), pytest.raises(ValidationFailed) as refused:
            list_payments(after="@@@")
        assert refused.value.field == "after"


class TestCouponForm:
    def test_a_fixed_amount_is_read_in_the_major_unit(self):
        from webapp.web.admin.coupon_form import new_coupon_from_form

        new = new_coupon_from_form(
            {"code": " SAVE5 ", "discount_type": "fixed", "value": "5.00", "currency": "USD"}, [" python ", ""]
        )
        assert (new.code, new.discount_type, new.value, new.currency) == ("SAVE5", "FIXED", "500", "usd")
        assert new.terms.course_ids == ("python",)
        assert new.terms.is_active is True and new.terms.is_public is False

    def test_a_percentage_takes_no_currency(self):
        from webapp.web.admin.coupon_form import new_coupon_from_form

        new = new_coupon_from_form({"discount_type": "percentage", "value": "10", "currency": "usd"}, [])
        assert new.currency is None

    @pytest.mark.parametrize(
        ("form", "field"),
        [
            ({"discount_type": "fixed", "value": ""}, "value"),
            ({"discount_type": "fixed", "value": "5"}, "currency"),
            ({"discount_type": "fixed", "value": "5", "currency": "zzz"}, "currency"),
            ({"discount_type": "percentage", "value": "5", "max_uses": "ten"}, "max_uses"),
            ({"discount_type": "percentage", "value": "5", "valid_until": "soon"}, "valid_until"),
        ],
    )
    def test_syntax_errors_name_the_field(self, form, field):
        from webapp.services.errors import ValidationFailed
        from webapp.web.admin.coupon_form import new_coupon_from_form

        with pytest.raises(ValidationFailed) as refused:
            new_coupon_from_form(form, [])
        assert refused.value.field == field

    @pytest.mark.parametrize(
        ("currency", "typed", "minor"),
        [
            ("usd", "20.00", 2000),
            ("usd", "20", 2000),
            ("usd", "19.5", 1950),
            ("jpy", "500", 500),
            ("bhd", "1.005", 1005),
        ],
    )
    def test_money_limits_are_typed_in_the_major_unit(self, currency, typed, minor):
        from webapp.web.admin.coupon_form import coupon_terms_from_form

        terms = coupon_terms_from_form({"minimum_amount": typed, "maximum_discount": typed}, [], currency=currency)
        assert (terms.minimum_amount, terms.maximum_discount) == (minor, minor)

    @pytest.mark.parametrize(
        ("currency", "typed", "message"),
        [
            ("usd", "20.005", "at most 2 decimal places"),  # refused, never rounded half-up
            ("jpy", "500.5", "no decimal places"),
            ("jpy", "500.0", "no decimal places"),  # whole numbers only
            ("usd", "twenty", "is not an amount"),
            ("usd", "-1", "cannot be negative"),
        ],
    )
    def test_money_limits_refuse_what_the_currency_cannot_hold(self, currency, typed, message):
        from webapp.services.errors import ValidationFailed
        from webapp.web.admin.coupon_form import coupon_terms_from_form

        with pytest.raises(ValidationFailed) as refused:
            coupon_terms_from_form({"minimum_amount": typed}, [], currency=currency)
        assert refused.value.field == "minimum_amount" and message in refused.value.message

    def test_every_bad_field_is_reported_at_once(self):
        from webapp.services.errors import ValidationFailed
        from webapp.web.admin.coupon_form import errors_of, new_coupon_from_form

        form = {
            "discount_type": "fixed",
            "value": "5.001",
            "currency": "usd",
            "max_uses": "ten",
            "valid_until": "soon",
            "minimum_amount": "1.234",
            "maximum_discount": "abc",
        }
        with pytest.raises(ValidationFailed) as refused:
            new_coupon_from_form(form, [])
        assert refused.value.field == "value"
        assert set(errors_of(refused.value)) == {
            "value",
            "max_uses",
            "valid_until",
            "minimum_amount",
            "maximum_discount",
        }

    def test_edit_form_reads_dates_as_utc_and_ticks(self):
        from webapp.web.admin.coupon_form import coupon_terms_from_form

        terms = coupon_terms_from_form(
            {"valid_from": "2026-12-31T23:59", "is_public": "on", "is_active": "0"}, [], currency="usd"
        )
        assert terms.valid_from == datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
        assert (terms.is_public, terms.is_active) == (True, False)

    @pytest.mark.parametrize(
        ("terms", "field"),
        [
            ({"max_uses": 0}, "max_uses"),
            ({"maximum_discount": 0}, "maximum_discount"),
            (
                {"valid_from": datetime(2026, 2, 1, tzinfo=UTC), "valid_until": datetime(2026, 1, 1, tzinfo=UTC)},
                "valid_until",
            ),
        ],
    )
    def test_the_service_refuses_terms_no_coupon_may_have(self, terms, field):
        from webapp.services.coupon_admin import CouponTerms, check_terms
        from webapp.services.errors import ValidationFailed

        with pytest.raises(ValidationFailed) as refused:
            check_terms(CouponTerms(**terms))
        assert refused.value.field == field


class TestEnrollmentFilterArgs:
    def test_args_round_trip_through_the_parser(self):
        from webapp.web.admin.filters import enrollment_filter_args, parse_enrollment_filter

        args = {"course": "python", "status": "ACTIVE", "date_from": "2026-01-01", "q": "bob", "sort": "oldest"}
        assert enrollment_filter_args(parse_enrollment_filter(args)) == args
        assert enrollment_filter_args(parse_enrollment_filter({})) == {}
