"""Card numbers hidden in free text (a description, a metadata value) are refused at the door.

The contract already refuses raw card fields; a client can still paste a card number into text we
store, send to Stripe (which asks for none in descriptions or metadata) and put on the bus, where a
consumer might log it. What counts is what no log line may hold (docs/decisions.md): a run of 13 to 19
digits that passes the Luhn check, here also when written in groups separated by spaces or dashes.
A Luhn-valid order number of that length is refused too (about one in ten are): the client is told
which field, never the value, and can send the number in another form.
"""

from __future__ import annotations

import re

# Digits, possibly in groups split by one space or dash: "4242424242424242", "4242 4242 4242 4242".
_DIGIT_RUN = re.compile(r"\d+(?:[ -]\d+)*")
_MAX_GROUPS = 8


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def holds_card_number(text: str) -> bool:
    """True if some whole groups of a digit run make 13 to 19 digits that pass the Luhn check.

    Windows start and end at group boundaries, so a card number written in groups is found inside a
    longer grouped run, while a single unbroken run of more than 19 digits is no card number. A
    window spans at most 8 groups (cards are printed in 3 to 5), which keeps a 1,000-character field
    of short groups to ~2 ms here (one-digit groups took ~20 ms without the bound).
    """
    for run in _DIGIT_RUN.findall(text):
        groups = re.split(r"[ -]", run)
        for start in range(len(groups)):
            digits = ""
            for group in groups[start : start + _MAX_GROUPS]:
                digits += group
                if len(digits) > 19:
                    break
                if len(digits) >= 13 and luhn_valid(digits):
                    return True
    return False


def refuse_card_number(text: str) -> str:
    """A pydantic after-validator: the message names no value (errors never echo input)."""
    if holds_card_number(text):
        raise ValueError("looks like it holds a card number; card data is not accepted")
    return text
