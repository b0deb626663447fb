"""Files written in one step, so a crash or a reader in another process never sees half of one."""

import os


def write_whole(path, text):
    """Writes `text` to `path` in one step (a temporary file renamed over it): a crash, or a
    reader in another process, never sees half a file."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
