"""Card numbers hidden in free text (a description, a metadata value) are refused at the door.

The contract already refuses raw card fields; a client can still paste a card number into text we
store, send to Stripe (which asks for none in descriptions or metadata) and put on the bus, where a
consumer might log it. What counts is what no log line may hold (docs/decisions.md): a run of 13 to 19
digits that passes the Luhn check, here also when written in groups split the same way throughout
by one to three spaces, dashes, dots, slashes or underscores ("4242 4242 4242 4242", "4242-4242-...",
"4 2 4 2 ..."), with full-width and other compatibility forms read as their plain ones and invisible
characters (zero-width spaces, soft hyphens, direction marks, combining marks) ignored; a run of
spaces is one separator. A line break,
a letter or other punctuation ends a run, and groups split in different ways ("01.02.2026 - 03.04.2026",
"531.23 / 565.32") make no number: lists of dates, amounts and phone numbers pass.
A Luhn-valid order number of that length is refused too (about one in ten are): the client is told
which field, never the value, and can send the number in another form.
"""

from __future__ import annotations

import re
import unicodedata

# Characters that join what is on either side of them without showing, removed before reading: format
# characters (zero-width spaces and joiners, soft hyphen, direction marks and isolates, tags),
# combining marks of any block (keycaps too), and the blank fillers of Hangul and Braille.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me"})
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# After NFKC (no-break and thin spaces are spaces, full-width digits and punctuation plain ones): a
# space or tab, a dash of any kind, a dot, a slash, an underscore. Not a line break.
_SEPARATOR = r"[ \t\-./_\u2010-\u2015\u2212\ufe58\ufe63]"
_PIECE = re.compile(rf"(\d+)({_SEPARATOR}{{1,3}}(?=\d))?")
_DASHES = str.maketrans(dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63", "-") | {"\t": " "})
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # a Luhn digit doubled, its digits summed


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        total += _DOUBLED[value] if index % 2 else value
    return total % 10 == 0


def holds_card_number(text: str) -> bool:
    """True if some whole groups of a digit run, split the same way, make 13 to 19 digits that pass the
    Luhn check.

    Windows start and end at group boundaries, so a card number written in groups (of any size, one
    digit each too) is found inside a longer grouped run, while a single unbroken run of more than 19
    digits is no card number. From each group on, the Luhn sums are kept for both parities as digits
    are added, and a window stops at 19 digits, so the work is at most 19 steps per digit: a
    1,000-character field is checked in a few milliseconds, longer text in proportion.
    """
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = "".join(
            char for char in text if char not in _FILLERS and unicodedata.category(char) not in _INVISIBLE_CATEGORIES
        )
    groups: list[list[int]] = []
    separators: list[str] = []  # separators[i]: what follows groups[i] ("" at a run's end)
    for match in _PIECE.finditer(text):
        digits, separator = match.group(1), match.group(2) or ""
        groups.append([int(char) for char in digits])
        separator = separator.translate(_DASHES)
        separators.append(" " if separator.isspace() else separator)  # "4242  4242 ...": spaces are one
        if not separator:
            if _windows_hold_one(groups, separators):
                return True
            groups, separators = [], []
    return False


def _windows_hold_one(groups: list[list[int]], separators: list[str]) -> bool:
    for start in range(len(groups)):
        length = even = odd = 0
        index = start
        while index < len(groups):
            # even: the sum with every digit at an even offset from the window's start doubled; odd: at
            # an odd offset. Luhn doubles every second digit from the right: even offsets when the
            # window's length is even, odd ones when it is odd.
            for value in groups[index]:
                if length % 2:
                    even, odd = even + value, odd + _DOUBLED[value]
                else:
                    even, odd = even + _DOUBLED[value], odd + value
                length += 1
                if length > 19:
                    break
            if length > 19:
                break
            if length >= 13 and (even if length % 2 == 0 else odd) % 10 == 0:
                return True
            if separators[index] != separators[start]:
                break  # split another way from here on (or the run ends)
            index += 1
    return False


def refuse_card_number(text: str) -> str:
    """A pydantic after-validator: the message names no value (errors never echo input)."""
    if holds_card_number(text):
        raise ValueError("looks like it holds a card number; card data is not accepted")
    return text
