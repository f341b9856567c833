"""Which currency codes exist, what an amount's minor unit is in each (amounts are integers in minor
units, never scaled), and which amounts Stripe refuses.

Plain data, no dependencies: the notifications consumer formats receipts with it, the request models
and the capture and refund checks validate with it. The rules are copied from Stripe's currencies page
(https://docs.stripe.com/currencies: "Special cases", "Three-decimal currencies", "Minimum charge
amount by currency"); devstack's strict Stripe holds its own copy, so neither can agree with the other
by importing it.
"""

from __future__ import annotations

# ISO 4217 codes of money one can be charged in: the fund codes (bov, che, chw, clf, cou, mxv, usn,
# uyi, uyw), precious metals, bond units, the SDR and the test codes (xts, xxx) are left out. Two
# codes ISO has withdrawn are kept because Stripe still charges in them: ang (now xcg) and sll (sle).
_ISO_4217_CODES = """
    aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd btn bwp byn
    bzd cad cdf chf clp cny cop crc cup cve czk djf dkk dop dzd egp ern etb eur fjd fkp gbp gel ghs
    gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr iqd irr isk jmd jod jpy kes kgs khr kmf kpw krw
    kwd kyd kzt lak lbp lkr lrd lsl lyd mad mdl mga mkd mmk mnt mop mru mur mvr mwk mxn myr mzn nad
    ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sdg sek sgd
    shp sle sll sos srd ssp stn svc syp szl thb tjs tmt tnd top try ttd twd tzs uah ugx usd uyu uzs
    ved ves vnd vuv wst xaf xcd xcg xof xpf yer zar zmw zwg
"""
ISO_4217 = frozenset(_ISO_4217_CODES.split())
# Stripe's zero-decimal currencies: an amount is already in whole units and is never scaled (UGX is on
# Stripe's list too, but its special case below governs how an amount in it is written).
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
# Stripe's three-decimal currencies: amounts count thousandths, and Stripe takes only those ending in
# 0 ("your integration must round amounts to the nearest ten"), for intents and refunds alike.
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})
# Stripe's special cases: ISK and UGX are zero-decimal in fact but written with two decimals that are
# always 00 ("to charge 5 ISK, provide an amount value of 500 ... You can't charge fractions of ISK").
# (HUF and TWD, the page's other special cases, are whole units for payouts only: charges and refunds
# may carry two decimals, so nothing here refuses them.)
WHOLE_UNITS_WRITTEN_WITH_TWO_DECIMALS = frozenset({"isk", "ugx"})
# Stripe's minimum charge amounts, in minor units, for a charge in the settlement currency itself
# (a charge in another currency must meet the settlement currency's minimum after conversion, which
# cannot be known here). They apply to what is charged or captured, not to refunds.
MINIMUM_CHARGE_AMOUNTS = {
    "usd": 50,
    "aed": 200,
    "ars": 50,
    "aud": 50,
    "brl": 50,
    "cad": 50,
    "chf": 50,
    "cop": 50,
    "czk": 1500,
    "dkk": 250,
    "eur": 50,
    "gbp": 30,
    "hkd": 400,
    "huf": 17500,
    "idr": 50,
    "ils": 50,
    "inr": 50,
    "jpy": 50,
    "krw": 50,
    "mxn": 1000,
    "myr": 200,
    "nok": 300,
    "nzd": 50,
    "php": 50,
    "pln": 200,
    "ron": 200,
    "rub": 50,
    "sek": 300,
    "sgd": 50,
    "thb": 1000,
    "zar": 50,
}


def decimals(currency: str) -> int:
    """How many decimal places an amount's minor unit has (as Stripe's API writes it)."""
    code = currency.lower()
    if code in WHOLE_UNITS_WRITTEN_WITH_TWO_DECIMALS:
        return 2
    return 0 if code in ZERO_DECIMAL_CURRENCIES else 3 if code in THREE_DECIMAL_CURRENCIES else 2


def amount_problem(amount: int, currency: str) -> str | None:
    """Why the provider would refuse this amount in this currency for any money movement (a charge, a
    capture or a refund), or None."""
    code = currency.lower()
    if code in THREE_DECIMAL_CURRENCIES and amount % 10:
        return f"An amount in {currency.upper()} must be a multiple of 10 (Stripe rounds it to tens)."
    if code in WHOLE_UNITS_WRITTEN_WITH_TWO_DECIMALS and amount % 100:
        return (
            f"An amount in {currency.upper()} must be a multiple of 100: Stripe writes whole "
            f"{currency.upper()} with two decimals that are always 00."
        )
    return None


def minimum_charge(currency: str) -> int | None:
    """The smallest amount Stripe charges in this currency, in minor units; None if it publishes none."""
    return MINIMUM_CHARGE_AMOUNTS.get(currency.lower())


def charge_amount_problem(amount: int, currency: str) -> str | None:
    """Why the provider would refuse to charge (or capture) this amount in this currency, or None:
    ``amount_problem``'s rules and Stripe's minimum charge amount (which refunds are not held to)."""
    problem = amount_problem(amount, currency)
    if problem:
        return problem
    minimum = minimum_charge(currency)
    if minimum is not None and amount < minimum:
        return f"Stripe charges at least {format_amount(minimum, currency)}."
    return None


def format_amount(amount: int, currency: str) -> str:
    """Minor units for display: 2500 usd is "25.00 USD", 2500 jpy "2500 JPY", 1250 kwd "1.250 KWD"."""
    places = decimals(currency)
    if places == 0:
        return f"{amount} {currency.upper()}"
    whole, part = divmod(amount, 10**places)
    return f"{whole}.{part:0{places}d} {currency.upper()}"
