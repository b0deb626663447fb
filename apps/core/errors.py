"""Errors that are the user's to fix; the CLI prints them as one line each, no traceback."""


class InputError(ValueError):
    """An input to `predict` (a file, a row, a text) that the app cannot answer; the message
    names the input, what was expected and what arrived."""


class ConfigError(ValueError):
    """A config value the app cannot honour; the message says what to do instead."""
