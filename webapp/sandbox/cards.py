"""Stripe's test cards and test PaymentMethod tokens, and what each one does."""

from __future__ import annotations

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
    "4000000000000069": ("visa", "credit", "expired_card"),
}

# Stripe's test PaymentMethod tokens accepted by attach.
TEST_PM_TOKENS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_mastercard": "5555555555554444",
    "pm_card_amex": "378282246310005",
    "pm_card_visa_debit": "4000056655665556",
}

DECLINE_MESSAGES = {
    "generic_decline": "Your card was declined.",
    "insufficient_funds": "Your card has insufficient funds.",
    "lost_card": "Your card was declined.",
    "expired_card": "Your card has expired.",
    "incorrect_number": "Your card number is incorrect.",
    "not_a_test_card": ("Your card was declined. This is the sandbox: use a test card such as 4242 4242 4242 4242."),
}


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


def card_decline_for(number: str) -> str | None:
    """The decline code a card number gets at the sandbox (None = it pays)."""
    if len(number) < 12 or not luhn_ok(number):
        return "incorrect_number"
    if number not in TEST_CARDS:
        return "not_a_test_card"
    return TEST_CARDS[number][2]
