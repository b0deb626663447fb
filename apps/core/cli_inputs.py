"""What `kapps <app> predict` arguments are: helpers every app's `request_from_cli` shares.

An argument may be anything a shell passes (a 50,000-character JSON text, a NUL byte): these
helpers answer for every such string, so that the app can refuse it with one line.
"""

from pathlib import Path

from apps.core.errors import InputError

SHOWN_CHARACTERS = 60


def is_file(item):
    """Whether the argument names an existing file; False for strings no file can be named by
    (too long for the file system, NUL bytes)."""
    try:
        return Path(item).is_file()
    except (OSError, ValueError):
        return False


def output_stem(item, index):
    """The file-name stem of the answers to `items[index]` (`predict`'s output files): the input
    file's stem, or `input<index>`."""
    stem = Path(item).stem if is_file(item) else f"input{index}"
    return "".join(char if char.isalnum() or char in "-_." else "_" for char in stem) or f"input{index}"


def shown(item):
    """The argument as error messages name it: quoted, cut to its first characters."""
    return repr(item if len(item) <= SHOWN_CHARACTERS else item[:SHOWN_CHARACTERS] + "…")


def utf8_text(item, number):
    """The argument, once it is text that UTF-8 can carry: a shell passes bytes that are not
    UTF-8 as lone surrogates, which no model input takes. `InputError` naming input `number`."""
    try:
        item.encode("utf-8")
    except UnicodeEncodeError as error:
        raise InputError(f"input {number} ({shown(item)}) is not UTF-8 text (character {error.start}).") from None
    return item
