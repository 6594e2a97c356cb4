"""Writing the files a user names (``--json``, ``--sarif``, the baseline) without harming what is there.

The path is the user's: it may be a symlink, a device (``/dev/null``,
``/dev/stdout``) or a FIFO, and it must stay what it is, so those are written
as ``open(path, "w")`` writes them.  Only a regular file (or a new one) is
replaced atomically, through a temporary file beside it, so a reader never
sees half a report; it keeps the old file's permission bits.  Errors name
the path as the user wrote it, never the temporary file.
"""

from __future__ import annotations

import os
import stat

from racedet.exceptions import ConfigError


def write_text(path: str, text: str, what: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path``; ``what`` names the file in errors."""
    try:
        if _replaceable(path):
            _replace(path, text)
        else:
            _write(path, text)
    except OSError as exc:
        raise ConfigError(f"cannot write {what} {path}: {exc.strerror or exc}") from None


def _replaceable(path: str) -> bool:
    """A regular file, or nothing yet: not a symlink, device, FIFO, socket or directory."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    return stat.S_ISREG(st.st_mode)


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def _replace(path: str, text: str) -> None:
    directory = os.path.dirname(path) or os.curdir
    # A missing directory fails here as open(path, "w") would (the caller names ``path``).
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except PermissionError:
        # A directory racedet may not create files in, holding a file it may write.
        _write(path, text)
        return
    try:
        with open(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        try:
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
