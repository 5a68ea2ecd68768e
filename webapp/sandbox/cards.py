"""Stripe's test cards and test PaymentMethod tokens, and what each one does."""

from __future__ import annotations

import time
from typing import Any

# number -> (brand, funding, decline code or None)
TEST_CARDS: dict[str, tuple[str, str, str | None]] = {
    "4242424242424242": ("visa", "credit", None),
    "4000056655665556": ("visa", "debit", None),
    "5555555555554444": ("mastercard", "credit", None),
    "2223003122003222": ("mastercard", "credit", None),
    "378282246310005": ("amex", "credit", None),
    "6011111111111117": ("discover", "credit", None),
    "4000000000000002": ("visa", "credit", "generic_decline"),
    "4000000000009995": ("visa", "credit", "insufficient_funds"),
    "4000000000009987": ("visa", "credit", "lost_card"),
    "4000000000009979": ("visa", "credit", "stolen_card"),
    "4000000000000069": ("visa", "credit", "expired_card"),
    "4000000000000127": ("visa", "credit", "incorrect_cvc"),
    "4000000000000119": ("visa", "credit", "processing_error"),
    # Attaching succeeds, charging fails (Stripe: "Attaching this card to a Customer object
    # succeeds, but attempts to charge the customer fail"): see CHARGE_ONLY_DECLINES.
    "4000000000000341": ("visa", "credit", "generic_decline"),
    # Requires authentication on session unless set up; the sandbox's hosted page completes
    # the authentication at once, and off-session charges of a saved card need none: it pays.
    "4000002500003155": ("visa", "credit", None),
}

# Cards whose decline applies to charges only: saving them (setup mode, attach) succeeds.
CHARGE_ONLY_DECLINES = frozenset({"4000000000000341"})

# What the hosted page lists: (number as shown, what it does). Every card here is in TEST_CARDS.
TEST_CARD_HELP: tuple[tuple[str, str], ...] = (
    ("4242 4242 4242 4242", "Visa — succeeds"),
    ("5555 5555 5555 4444", "Mastercard — succeeds"),
    ("3782 822463 10005", "American Express — succeeds"),
    ("4000 0566 5566 5556", "Visa debit — succeeds"),
    ("4000 0025 0000 3155", "authentication required — the sandbox completes it; succeeds, also off session"),
    (
        "4000 0000 0000 0341",
        "attaches, later charges fail — pays a plan's first installment here, declined in payment mode",
    ),
    ("4000 0000 0000 0002", "declined (generic_decline)"),
    ("4000 0000 0000 9995", "declined (insufficient_funds)"),
    ("4000 0000 0000 9987", "declined (lost_card)"),
    ("4000 0000 0000 9979", "declined (stolen_card)"),
    ("4000 0000 0000 0069", "declined (expired_card)"),
    ("4000 0000 0000 0127", "declined (incorrect_cvc)"),
    ("4000 0000 0000 0119", "declined (processing_error)"),
)

# Stripe's test PaymentMethod tokens accepted by attach.
TEST_PM_TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_visa_debit": "4000056655665556",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequiredSetupForOffSession": "4000002500003155",
}

DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "stolen_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "incorrect_number": "Your card number is incorrect.",
    "not_a_test_card": ("Your card was declined. This is the sandbox: use a test card such as 4242 4242 4242 4242."),
}

# The error `code` of each decline, as Stripe's testing cards give it (the rest: card_declined).
_ERROR_CODES = {
    "expired_card": "expired_card",
    "incorrect_cvc": "incorrect_cvc",
    "processing_error": "processing_error",
    "incorrect_number": "incorrect_number",
}


def card_error(decline: str) -> dict[str, Any]:
    """Stripe's `last_payment_error` / `last_setup_error` core for a decline.

    `decline_code` is present only for declines by the issuer; a number that is not a card
    at all (`incorrect_number`) has none.
    """
    error: dict[str, Any] = {
        "code": _ERROR_CODES.get(decline, "card_declined"),
        "message": DECLINE_MESSAGES[decline],
        "type": "card_error",
    }
    if decline != "incorrect_number":
        error["decline_code"] = decline
    return error


def expiry_refusal(exp_month: int | None, exp_year: int | None, now: int) -> str | None:
    """The hosted page's message for an expiry date in the past (None when it is fine)."""
    if exp_month is None or exp_year is None:
        return None
    today = time.gmtime(now)
    if exp_year < today.tm_year:
        return "Your card's expiration year is in the past."
    if exp_year == today.tm_year and exp_month < today.tm_mon:
        return "Your card's expiration date is in the past."
    return None


def luhn_ok(number: str) -> bool:
    digits = [int(d) for d in number]
    checksum = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        checksum += digit
    return checksum % 10 == 0


def normalise_card_number(raw: str | None) -> str:
    return "".join(ch for ch in (raw or "") if ch.isdigit())


def card_decline_for(number: str, *, charging: bool = True) -> str | None:
    """The decline code a card number gets at the sandbox (None = it pays, or is saved).

    `charging=False` is saving the card without a payment (setup mode): the cards in
    CHARGE_ONLY_DECLINES pass then, and decline only when charged.
    """
    if len(number) < 12 or not luhn_ok(number):
        return "incorrect_number"
    if number not in TEST_CARDS:
        return "not_a_test_card"
    if not charging and number in CHARGE_ONLY_DECLINES:
        return None
    return TEST_CARDS[number][2]


def charge_decline_for(number: str) -> str | None:
    """What charging a saved card of this number later gives (off session, by invoices)."""
    return TEST_CARDS.get(number, ("visa", "credit", None))[2]
