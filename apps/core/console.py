"""What training prints: a Keras progress bar redrawn in place only on a terminal."""

import sys


def fit_verbosity():
    """Keras `verbose` for `fit`: 1 (a bar redrawn at every step) when stdout is a terminal,
    else 2 (one line per epoch), so that a log file or a notebook's stored output holds no
    redraws. Keras's own "auto" redraws whenever it runs on a POSIX system."""
    stdout = sys.stdout
    return 1 if stdout is not None and stdout.isatty() else 2
