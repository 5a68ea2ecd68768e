"""Stripe's own money rules, as the sandbox applies them.

The sandbox stands for Stripe, so it keeps Stripe's published currency facts itself rather
than borrowing the app's: if the app's rules drift from Stripe's, the sandbox refuses what
Stripe would refuse and the tests notice. Amounts are integers in the currency's minor unit.
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency

# Stripe's zero-decimal currencies: the amount is already in the major unit.
# fmt: off
ZERO_DECIMAL: frozenset[str] = frozenset(
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
        "vuv", "xaf", "xof", "xpf",
    }
)
# fmt: on

# Stripe's three-decimal currencies.
THREE_DECIMAL: frozenset[str] = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

# Stripe's minimum charge amounts, in minor units, for the currencies Stripe lists.
MINIMUM_CHARGE: dict[str, int] = {
    "usd": 50,
    "aed": 200,
    "aud": 50,
    "bgn": 100,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "inr": 50,
    "jpy": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "pln": 200,
    "ron": 200,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
}

# Currencies outside Stripe's table: their minimum follows the settlement currency; the
# sandbox's account settles in USD, so it applies USD's.
DEFAULT_MINIMUM_CHARGE = 50


def decimals(currency: str) -> int:
    """How many decimals Stripe counts in `currency`'s minor unit."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def minimum_charge(currency: str) -> int:
    """The smallest positive amount Stripe charges in `currency`, in minor units."""
    return MINIMUM_CHARGE.get(currency.lower(), DEFAULT_MINIMUM_CHARGE)


def format_amount(amount: int | None, currency: str | None) -> str:
    """An amount as Stripe shows it in messages and on its hosted page: `$49.99`, `¥5,000`."""
    if amount is None or not currency:
        return ""
    places = decimals(currency)
    value = Decimal(amount).scaleb(-places)
    pattern = "¤#,##0" + ("." + "0" * places if places else "")
    return format_currency(value, currency.upper(), format=pattern, locale="en_US", currency_digits=False)
