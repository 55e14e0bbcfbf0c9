"""Text folding for matching what people type: one rule for case, «ё» and spaces.

Header names (sync.spec.normalize_header), status and choice values (sync.status) and the other
places that compare typed text with expected text fold it here, so a school's «Выполнено »,
«ВЫПОЛНЕНО» and «выполнено» (or «Ё» for «Е», a non-breaking space) mean the same everywhere.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["MONTHS_GENITIVE", "fold", "single_spaces"]

# Month names as a date is written in words: «5 октября 2021 года».
MONTHS_GENITIVE = (
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
)

_SPACES = re.compile(r"\s+")


def single_spaces(text: str) -> str:
    """Runs of spaces, tabs, line breaks and non-breaking spaces as one space, trimmed.

    >>> single_spaces("  Сроки\\n исполнения\\u00a0 ")
    'Сроки исполнения'
    """
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=1 << 16, typed=True)
def fold(text: object) -> str:
    """Fold a value for comparing: lower case, «е» for «ё», single spaces, trimmed (cached).

    >>> fold("  Ещё\\u00a0 НЕ  начато ")
    'еще не начато'
    >>> fold(2021)
    '2021'
    """
    s = str(text).replace("\u00a0", " ").replace("ё", "е").replace("Ё", "Е").lower()
    return single_spaces(s)
