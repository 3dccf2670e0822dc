"""What could be a solution marker, however it is spelt: the student builder's net.

``### BEGIN SOLUTION`` works only spelt exactly so. A line that means the same in
other spelling is not stripped by the builder (nor by nbgrader), so the solution under
it would reach the students: the builder refuses any such line instead. Recognised:

- the words in any case, with any spacing or punctuation between them, in full-width
  or other compatibility forms, with accents or zero-width characters in them;
- letters from other scripts that look like Latin ones (Cyrillic ``Е``, Greek ``Ο``,
  Cherokee, Lisu, small capitals...): a table of look-alikes for the letters of the
  marker words; in a line that is nothing but a short comment, any letter outside
  ASCII may stand for any letter of a marker word;
- other conventions: ``BEGIN/END SOLUTION``, ``START/STOP SOLUTION``, ``BEGIN/END
  HIDDEN TESTS`` anywhere in a line; ``BEGIN/END ANSWER``, ``BEGIN SOL`` after a
  ``#``, a ``<!--`` or at the start of a line.

The same goes for tags: ``solution`` is the tag; ``Solution``, ``sol``, ``answer``,
``model-answer`` and the like are refused.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["looks_like_marker", "looks_like_solution_tag", "skeleton"]

# Letters that look like the Latin letters of the marker words (Unicode's confusables
# for A B D E G H I L N O P R S T U W, capital and small).
_LOOKALIKES = {
    "A": "ΑАᎪꓮᴀ",
    "a": "аɑα",
    "B": "ΒВᏴꓐʙ",
    "b": "Ьƅ",
    "D": "Ꭰꓓᴅ",
    "d": "ԁꓒ",
    "E": "ΕЕᎬꓰᴇ",
    "e": "еҽ",
    "G": "ԌᏀᏳꓖɢ",
    "g": "ɡց",
    "H": "ΗНᎻꓧʜ",
    "h": "һհ",
    "I": "ΙІӀꓲɪ",
    "i": "іɩιı",
    "L": "ᏞꓡʟⳐ",
    "l": "ӏ",
    "N": "ΝꓠɴⲚ",
    "n": "ո",
    "O": "ΟОՕꓳᴏⲞ",
    "o": "οоօ",
    "P": "ΡРᏢꓑᴘⲢ",
    "p": "рρ",
    "R": "ᎡᏒꓣʀ",
    "r": "гᴦ",
    "S": "ЅᏚꓢꜱՏ",
    "s": "ѕ",
    "T": "ΤТᎢꓔᴛ",
    "t": "т",
    "U": "Սꓴᴜ",
    "u": "υսᴜ",
    "W": "ԜᎳꓪᴡ",
    "w": "ԝѡ",
}
_TO_LATIN = str.maketrans(
    {ch: latin for latin, chars in _LOOKALIKES.items() for ch in chars}
)
_DROPPED = {"Cf", "Mn", "Me"}  # zero-width and format characters, accents
_SEP = r"[\W_]*"
_FIRST = r"(?:begin|end|start|stop)"
# Anywhere in a line: these spellings never occur in prose.
_ANYWHERE = re.compile(rf"(?<![a-z]){_FIRST}{_SEP}(?:solution|hidden)", re.IGNORECASE)
# After a comment sign or at the start of a line: "answer" and "sol" also read as
# ordinary words ("at the end, answer..."), so only where a marker would stand.
_COMMENTED = re.compile(
    rf"(?:#|<!--|^)[ \t]*{_FIRST}[ \t_\-]*(?:sol|solutions?|answers?)\b",
    re.IGNORECASE,
)
# A line that is nothing but a short comment: a marker's shape.
_SHORT_COMMENT = re.compile(r"\s*(?:#+|<!--|//)\s*(.{3,40}?)\s*(?:#+|-->)?\s*")
_WORDS = ("begin", "end", "start", "stop", "solution", "sol", "answer", "hidden")


def skeleton(text: str) -> str:
    """``text`` with compatibility forms folded, accents and zero-width characters
    dropped and look-alike letters turned into the Latin ones."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _DROPPED)
    return text.translate(_TO_LATIN)


def _wildcard_match(comment: str) -> bool:
    """True if the comment reads as a marker when every letter outside ASCII may be
    any letter: two words of a marker, nothing else but punctuation."""
    letters = re.sub(r"[\W_\d]+", " ", comment).split()
    if len(letters) not in (2, 3) or all(word.isascii() for word in letters):
        return False

    def fits(word: str, target: str) -> bool:
        return len(word) == len(target) and all(
            a == b or not a.isascii()
            for a, b in zip(word.casefold(), target, strict=True)
        )

    first, second = letters[0], letters[1]
    return any(fits(first, w) for w in _WORDS[:4]) and any(
        fits(second, w) or fits(second, w + "s") for w in _WORDS[4:]
    )


def looks_like_marker(line: str) -> bool:
    """True if ``line`` could be meant as a solution or hidden-tests marker."""
    plain = skeleton(line)
    if _ANYWHERE.search(plain) or _COMMENTED.search(plain):
        return True
    comment = _SHORT_COMMENT.fullmatch(plain)
    return comment is not None and _wildcard_match(comment.group(1))


def looks_like_solution_tag(tag: str) -> bool:
    """True if ``tag`` could be meant as the ``solution`` tag (itself included)."""
    folded = re.sub(r"[\W_]+", "", skeleton(str(tag)).casefold())
    return "solution" in folded or "answer" in folded or folded in ("sol", "sols")
