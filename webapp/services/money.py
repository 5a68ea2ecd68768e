"""Currency facts and the one money formatter of the app.

Amounts live everywhere as integers in the currency's minor unit, as Stripe expects them
(cents for USD, yen for JPY, fils for KWD). This module is the only place that knows how
many decimals a currency has, how to show an amount to a person and how to read one typed
by an admin. It imports neither Flask nor the database.
"""

from __future__ import annotations

import copy
import re
from decimal import Decimal, InvalidOperation, localcontext
from functools import lru_cache

from babel import Locale
from babel.numbers import NumberPattern, format_currency

# Stripe's zero-decimal currencies: the amount is already in the major unit (¥5,000 is 5000).
# fmt: off
ZERO_DECIMAL_CURRENCIES: frozenset[str] = frozenset(
    {
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd",
        "vuv", "xaf", "xof", "xpf",
    }
)
# fmt: on

# Stripe's three-decimal currencies: 1.000 KWD is 1000.
THREE_DECIMAL: frozenset[str] = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])

# Presentment currencies Stripe accepts for card payments (lower-case ISO 4217), as Stripe lists them.
# fmt: off
SUPPORTED_CURRENCIES: frozenset[str] = frozenset(
    {
        "usd", "aed", "afn", "all", "amd", "ang", "aoa", "ars", "aud", "awg", "azn", "bam",
        "bbd", "bdt", "bgn", "bhd", "bif", "bmd", "bnd", "bob", "brl", "bsd", "bwp", "byn",
        "bzd", "cad", "cdf", "chf", "clp", "cny", "cop", "crc", "cve", "czk", "djf", "dkk",
        "dop", "dzd", "egp", "etb", "eur", "fjd", "fkp", "gbp", "gel", "gip", "gmd", "gnf",
        "gtq", "gyd", "hkd", "hnl", "htg", "huf", "idr", "ils", "inr", "isk", "jmd", "jod",
        "jpy", "kes", "kgs", "khr", "kmf", "krw", "kwd", "kyd", "kzt", "lak", "lbp", "lkr",
        "lrd", "lsl", "mad", "mdl", "mga", "mkd", "mmk", "mnt", "mop", "mur", "mvr", "mwk",
        "mxn", "myr", "mzn", "nad", "ngn", "nio", "nok", "npr", "nzd", "omr", "pab", "pen",
        "pgk", "php", "pkr", "pln", "pyg", "qar", "ron", "rsd", "rub", "rwf", "sar", "sbd",
        "scr", "sek", "sgd", "shp", "sle", "sos", "srd", "std", "szl", "thb", "tjs", "tnd",
        "top", "try", "ttd", "twd", "tzs", "uah", "ugx", "uyu", "uzs", "vnd", "vuv", "wst",
        "xaf", "xcd", "xof", "xpf", "yer", "zar", "zmw",
    }
)
# fmt: on

# Stripe's minimum charge per currency, in minor units; a smaller positive charge is refused
# by Stripe, so we refuse it first with a message of our own.
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

# For currencies Stripe's table omits (their real minimum follows the account's settlement
# currency) the most common entry is used; Stripe may still refuse a total above it.
DEFAULT_MINIMUM_CHARGE = 50

# Stripe's `amount` takes at most eight digits (99999999 = $999,999.99); anything larger
# cannot be charged, so an admin typing it has made a mistake.
MAXIMUM_AMOUNT = 99_999_999

# Longer input is refused before Decimal sees it: no real price needs it, and it keeps the
# exactness argument in parse_major_amount simple (all digits fit the local precision).
_MAX_INPUT_LENGTH = 40

# Digits with optional, correctly placed thousands commas and an optional fraction.
# ASCII only: `\d` would also accept Arabic-Indic or full-width digits.
_AMOUNT_RE = re.compile(r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?|\.[0-9]+")
_NON_FINITE = frozenset({"nan", "snan", "inf", "infinity"})
_CURRENCY_RE = re.compile(r"[A-Za-z]{3}")


def _code(currency: str) -> str:
    """Lower-case ISO code, or ValueError when `currency` cannot be one."""
    if not isinstance(currency, str) or not _CURRENCY_RE.fullmatch(currency):
        raise ValueError(f"{currency!r} is not a three-letter currency code")
    return currency.lower()


def _require_minor(amount_minor: int) -> int:
    # bool is an int subclass and a float here means someone skipped the minor-unit
    # conversion; both are bugs worth failing loudly on.
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(f"amount must be an int in minor units, got {type(amount_minor).__name__}")
    return amount_minor


def exponent(currency: str) -> int:
    """Number of decimals in `currency`'s minor unit as Stripe counts them.

    0 for zero-decimal currencies, 3 for three-decimal ones, 2 for every other code
    (Stripe's rule, even where ISO or CLDR say otherwise, e.g. HUF and ISK).
    Case-insensitive; raises ValueError if `currency` is not a three-letter code.
    """
    code = _code(currency)
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def is_supported(currency: str) -> bool:
    """True when Stripe can charge in `currency` (case-insensitive); False for anything else."""
    return isinstance(currency, str) and currency.lower() in SUPPORTED_CURRENCIES


def minimum_charge(currency: str) -> int:
    """Smallest positive amount, in minor units, Stripe will charge in `currency`.

    Case-insensitive; DEFAULT_MINIMUM_CHARGE for currencies Stripe's table does not list.
    """
    return MINIMUM_CHARGE.get(_code(currency), DEFAULT_MINIMUM_CHARGE)


def to_major(amount_minor: int, currency: str) -> Decimal:
    """The exact major-unit value of `amount_minor`: 4999 USD -> Decimal("49.99").

    The result carries the currency's decimals (Decimal("0.00") for 0 USD,
    Decimal("5000") for 5000 JPY). Exact for any int: it shifts the decimal exponent
    rather than dividing, so no context precision can round it.
    """
    sign, digits, exp = Decimal(_require_minor(amount_minor)).as_tuple()
    return Decimal((sign, digits, exp - exponent(currency)))


@lru_cache(maxsize=256)
def _currency_pattern(locale: str, decimals: int) -> tuple[Locale, NumberPattern]:
    parsed = Locale.parse(locale.replace("-", "_"))
    # Babel's own digit count comes from CLDR, which disagrees with Stripe for a dozen
    # currencies (CLDR shows HUF and ISK without decimals; Stripe's amounts have two), and
    # rounding there would show a different amount from the one charged. So the locale's
    # pattern is kept for symbol, grouping and sign placement, with Stripe's decimals.
    pattern = copy.copy(parsed.currency_formats["standard"])
    pattern.frac_prec = (decimals, decimals)
    return parsed, pattern


@lru_cache(maxsize=4096, typed=True)  # pure; typed, so True is not taken for 1
def format_money(amount_minor: int, currency: str, locale: str = "en_US") -> str:
    """`amount_minor` of `currency` as a person reads it in `locale`, via Babel.

    Always shows exactly the currency's Stripe decimals: 4999 USD -> "$49.99",
    2500 EUR -> "€25.00", 5000 JPY -> "¥5,000", 0 USD -> "$0.00"; negative amounts get
    the locale's minus sign. Accepts "en_US" or "en-US"; raises babel's
    UnknownLocaleError for a locale it does not know, ValueError for a malformed
    currency code and TypeError when the amount is not an int.
    """
    decimals = exponent(currency)
    parsed, pattern = _currency_pattern(locale, decimals)
    return format_currency(
        to_major(amount_minor, currency),
        currency.upper(),
        format=pattern,
        locale=parsed,
        currency_digits=False,
    )


def parse_major_amount(text: str, currency: str) -> int:
    """Minor units of an amount an admin typed in the major unit of `currency`.

    Accepts digits with an optional decimal point and optional thousands commas,
    surrounded by any whitespace: "10", "10.00", " 10.5 ", "1,234.50", ".5". Trailing
    zeros beyond the currency's decimals are fine ("10.000" USD is 1000); any non-zero
    digit beyond them is not, since it cannot be charged. Returns 0 for "0".

    Raises ValueError, with a message fit to show the admin, for empty input, negative
    amounts, anything that is not a plain decimal number (letters, exponents, NaN,
    Infinity, misplaced commas), more decimals than the currency has ("10.001" USD,
    "10.5" JPY) and amounts above MAXIMUM_AMOUNT.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    decimals = exponent(currency)
    code = currency.upper()
    cleaned = text.strip()
    if not cleaned:
        raise ValueError("Enter an amount, for example 10.00.")
    if len(cleaned) > _MAX_INPUT_LENGTH:
        raise ValueError(f"That amount is too large; the most is {format_money(MAXIMUM_AMOUNT, code)}.")
    # U+2212 is what some keyboards and copied documents produce for a minus.
    if cleaned[0] in "-\u2212":
        raise ValueError("The amount cannot be negative.")
    if cleaned.lstrip("+").lower() in _NON_FINITE:
        raise ValueError(f"{cleaned!r} is not a finite amount; type digits such as 10.00.")
    if not _AMOUNT_RE.fullmatch(cleaned):
        raise ValueError(f"{cleaned!r} is not an amount; type digits such as 10.00.")

    with localcontext() as ctx:
        # Input is at most _MAX_INPUT_LENGTH digits, so this precision makes the shift exact.
        ctx.prec = _MAX_INPUT_LENGTH + 10
        try:
            minor = Decimal(cleaned.replace(",", "")).scaleb(decimals)
        except InvalidOperation as exc:  # the regex should have made this unreachable
            raise ValueError(f"{cleaned!r} is not an amount; type digits such as 10.00.") from exc
        if minor != minor.to_integral_value():
            if decimals == 0:
                raise ValueError(f"{code} has no decimal places; type a whole amount such as 10.")
            raise ValueError(f"{code} allows at most {decimals} decimal places.")
    amount = int(minor)
    if amount > MAXIMUM_AMOUNT:
        raise ValueError(f"That amount is too large; the most is {format_money(MAXIMUM_AMOUNT, code)}.")
    return amount
