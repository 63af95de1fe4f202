"""Words in letters three lines tall, readable from across a doorway."""

from __future__ import annotations

# Each letter: three rows of equal width, drawn with half and full blocks.
LETTERS: dict[str, tuple[str, str, str]] = {
    "A": ("▄▀▀▄", "█▀▀█", "▀  ▀"),
    "C": ("▄▀▀▀", "█   ", " ▀▀▀"),
    "D": ("█▀▀▄", "█  █", "▀▀▀ "),
    "E": ("█▀▀", "█▀▀", "▀▀▀"),
    "F": ("█▀▀", "█▀▀", "▀  "),
    "H": ("█  █", "█▀▀█", "▀  ▀"),
    "I": ("▀█▀", " █ ", "▀▀▀"),
    "K": ("█ ▄▀", "█▀▄ ", "▀  ▀"),
    "M": ("█▄ ▄█", "█ ▀ █", "▀   ▀"),
    "N": ("█▄ █", "█ ▀█", "▀  ▀"),
    "O": ("▄▀▀▄", "█  █", " ▀▀ "),
    "R": ("█▀▀▄", "█▀▀▄", "▀  ▀"),
    "S": ("▄▀▀▀", " ▀▀▄", "▀▀▀ "),
    "T": ("▀█▀", " █ ", " ▀ "),
    "U": ("█  █", "█  █", " ▀▀ "),
    " ": ("  ", "  ", "  "),
}


def banner(word: str) -> str | None:
    """``word`` three lines tall, or None if it has a letter the font lacks."""
    letters = [LETTERS.get(char) for char in word.upper()]
    if any(letter is None for letter in letters):
        return None
    return "\n".join(
        " ".join(letter[row] for letter in letters if letter is not None) for row in range(3)
    )


def width(word: str) -> int:
    drawn = banner(word)
    return max(map(len, drawn.splitlines())) if drawn else len(word)
