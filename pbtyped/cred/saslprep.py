"""SASLprep (RFC 4013): the normalisation SCRAM applies to user names and passwords.

Built on the standard library's ``stringprep`` tables (Unicode 3.2, as RFC 3454 requires), so
that "café" typed as one code point or as "e" plus a combining accent is the same password.
"""

from __future__ import annotations

import stringprep
import unicodedata

__all__ = ["saslprep"]

_PROHIBITED = (
    stringprep.in_table_c12,  # non-ASCII spaces (already mapped, kept for the check)
    stringprep.in_table_c21_c22,  # control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogates
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties or deprecated
    stringprep.in_table_c9,  # tagging characters
)


def saslprep(text: str, *, allow_unassigned: bool = False) -> str:
    """``text`` prepared as RFC 4013 says, or ValueError naming the offending character.

    ``allow_unassigned`` selects the "query" profile (code points unassigned in Unicode 3.2
    pass through); the default is the stricter "stored string" profile, for what is saved.
    """
    # Mapping: non-ASCII spaces become a space, "commonly mapped to nothing" code points go.
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch for ch in text if not stringprep.in_table_b1(ch)
    )
    prepared = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)
    if not prepared:
        return prepared
    for ch in prepared:
        if any(table(ch) for table in _PROHIBITED):
            raise ValueError(f"SASLprep: prohibited character U+{ord(ch):04X}")
        if not allow_unassigned and stringprep.in_table_a1(ch):
            raise ValueError(f"SASLprep: unassigned code point U+{ord(ch):04X}")
    # Bidirectional text (RFC 3454 section 6): right-to-left strings must be wholly so.
    if any(stringprep.in_table_d1(ch) for ch in prepared):
        if any(stringprep.in_table_d2(ch) for ch in prepared):
            raise ValueError("SASLprep: mixes right-to-left and left-to-right characters")
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise ValueError(
                "SASLprep: right-to-left text must start and end with such a character"
            )
    return prepared
