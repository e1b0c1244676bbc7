"""Opening the local files an importer is pointed at: regular files only, read with a limit.

A named pipe would block `open()` until some writer appeared, /dev/zero would be read until
memory ran out, a directory named config.json is an IsADirectoryError traceback: each is
refused, by what it is, before a byte is read. The file is opened without blocking and checked
again on the open descriptor, so swapping the path in between does not get past the check."""
from __future__ import annotations

import os
import stat

from ..errors import DataError, Location, Problem

KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _kind(mode: int) -> str:
    for test, name in KINDS:
        if test(mode):
            return name
    return "not a plain file"


def refused(shown: str, message: str, hint: str = "") -> DataError:
    return DataError([Problem(Location(shown), "", message, hint)])


def _not_regular(shown: str, mode: int) -> DataError:
    return refused(shown, f"it is {_kind(mode)}, not a regular file", "point at the file itself (a copy, not a pipe or device)")


def open_regular(path, shown: str):
    """(binary file object, size in bytes) of a regular file, or a DataError naming what it is."""
    try:
        st = os.stat(path)  # no open() at all for a device or a pipe
    except OSError as exc:
        raise refused(shown, f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise _not_regular(shown, st.st_mode)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise refused(shown, f"cannot read: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _not_regular(shown, st.st_mode)
        if flags & getattr(os, "O_NONBLOCK", 0):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def read_limited(path, shown: str, limit: int, what: str) -> bytes:
    """All of a regular file's bytes, refusing one larger than `limit` (checked on its size
    first, and again while reading: a file that grows meanwhile is not read past the limit)."""
    f, size = open_regular(path, shown)
    with f:
        if size > limit:
            raise refused(shown, f"the file is {size} bytes; vramrules reads at most {limit} for {what}", "is this the right file?")
        try:
            raw = f.read(limit + 1)
        except OSError as exc:
            raise refused(shown, f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise refused(shown, f"the file grew past {limit} bytes while being read; vramrules reads at most {limit} for {what}")
    return raw
