"""Card numbers hidden in free text (a description, a metadata value) are refused at the door.

The contract already refuses raw card fields; a client can still paste a card number into text we
store, send to Stripe (which asks for none in descriptions or metadata) and put on the bus, where a
consumer might log it. What counts is what no log line may hold (docs/decisions.md): a run of 13 to 19
digits that passes the Luhn check, here also when written in groups separated by spaces, dashes, dots
or invisible characters.
A Luhn-valid order number of that length is refused too (about one in ten are): the client is told
which field, never the value, and can send the number in another form.
"""

from __future__ import annotations

import re

# Digits (any script's: full-width ones too), possibly in groups split by one to three separator characters:
# whitespace of any kind, dashes, dots, slashes, underscores, and the invisible ones (soft hyphen,
# zero-width spaces and joiners, direction marks, the byte-order mark) that leave a pasted number
# looking whole. Letters and other punctuation end a run.
_SEPARATOR = r"[\s\-./_\u00ad\u2010-\u2015\u2212\ufe58\ufe63\uff0d\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]"
_DIGIT_RUN = re.compile(rf"\d+(?:{_SEPARATOR}{{1,3}}\d+)*")
_GROUP_SPLIT = re.compile(rf"{_SEPARATOR}+")
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a Luhn digit doubled, its digits summed


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        total += _DOUBLED[value] if index % 2 else value
    return total % 10 == 0


def holds_card_number(text: str) -> bool:
    """True if some whole groups of a digit run make 13 to 19 digits that pass the Luhn check.

    Windows start and end at group boundaries, so a card number written in groups (of any size, one
    digit each too) is found inside a longer grouped run, while a single unbroken run of more than 19
    digits is no card number. From each group on, the Luhn sums are kept for both parities as digits
    are added, so a window costs one step per digit: a 1,000-character field of one-digit groups is
    checked in about 4 ms here.
    """
    for run in _DIGIT_RUN.findall(text):
        groups = [[int(char) for char in group] for group in _GROUP_SPLIT.split(run)]
        for start in range(len(groups)):
            # even: the sum with every digit at an even offset from the window's start doubled; odd:
            # at an odd offset. Luhn doubles every second digit from the right: even offsets when the
            # window's length is even, odd ones when it is odd.
            length = even = odd = 0
            for group in groups[start:]:
                for value in group:
                    if length % 2:
                        even, odd = even + value, odd + _DOUBLED[value]
                    else:
                        even, odd = even + _DOUBLED[value], odd + value
                    length += 1
                if length > 19:
                    break
                if length >= 13 and (even if length % 2 == 0 else odd) % 10 == 0:
                    return True
    return False


def refuse_card_number(text: str) -> str:
    """A pydantic after-validator: the message names no value (errors never echo input)."""
    if holds_card_number(text):
        raise ValueError("looks like it holds a card number; card data is not accepted")
    return text
