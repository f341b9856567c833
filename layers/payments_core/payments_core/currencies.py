"""Which currency codes exist, and what an amount's minor unit is in each (amounts are integers in
minor units, never scaled).

Plain data, no dependencies: the notifications consumer formats receipts with it, the request models
validate with it.
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
# Stripe's zero-decimal currencies: an amount is already in whole units and is never scaled.
ZERO_DECIMAL_CURRENCIES = frozenset(
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"}
)
# Stripe's three-decimal currencies: amounts count thousandths, and Stripe takes only those ending in
# 0 ("your integration must round amounts to the nearest ten"), for intents and refunds alike.
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def decimals(currency: str) -> int:
    """How many decimal places an amount's minor unit has."""
    code = currency.lower()
    return 0 if code in ZERO_DECIMAL_CURRENCIES else 3 if code in THREE_DECIMAL_CURRENCIES else 2


def amount_problem(amount: int, currency: str) -> str | None:
    """Why the provider would refuse this amount in this currency, or None."""
    if currency.lower() in THREE_DECIMAL_CURRENCIES and amount % 10:
        return f"An amount in {currency.upper()} must be a multiple of 10 (Stripe rounds it to tens)."
    return None


def format_amount(amount: int, currency: str) -> str:
    """Minor units for display: 2500 usd is "25.00 USD", 2500 jpy "2500 JPY", 1250 kwd "1.250 KWD"."""
    places = decimals(currency)
    if places == 0:
        return f"{amount} {currency.upper()}"
    whole, part = divmod(amount, 10**places)
    return f"{whole}.{part:0{places}d} {currency.upper()}"
