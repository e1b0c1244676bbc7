"""Writing files the safe way: never half-written (temp file + rename in the same directory),
never silently overwriting an existing file (`force` must say so), and for read-modify-write
updates (`import --into`, `record --into`) never losing another writer's change: writers take
an exclusive lock (`locked`), and the file is compared with what was read right before the
rename (`expect`), so an editor's save in between is reported, not overwritten."""
from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
import time
from pathlib import Path

from .errors import UsageError, VramrulesError


class WriteError(VramrulesError):
    exit_code = 1


LOCK_TIMEOUT = 30.0  # seconds to wait for another vramrules writing the same file
UNCHECKED = object()


def digest(raw: bytes | None) -> str | None:
    return None if raw is None else hashlib.sha256(raw).hexdigest()


def current_digest(path) -> str | None:
    """sha256 of the file's bytes now, None when there is no file; a non-regular file (a pipe
    put in its place) is never read and counts as changed."""
    try:
        st = os.stat(path)  # through a symlink, as the caller read it
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return "not a regular file"
        return hashlib.sha256(f.read()).hexdigest()


@contextlib.contextmanager
def locked(path):
    """Hold an exclusive lock for updating `path`: flock on a sidecar `.NAME.lock` beside it (a
    lock on the file itself would not outlive the rename that replaces it). Waits up to
    LOCK_TIMEOUT seconds, then fails with a clear message rather than hanging. Where flock is
    not available (Windows, some network filesystems) the `expect` check alone guards."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    if not (path.parent if str(path.parent) else Path(".")).is_dir():
        yield  # atomic_write reports the missing folder
        return
    lock = path.parent / f".{path.name}.lock"
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError as exc:
        raise WriteError(f"cannot lock {path} for writing: {lock}: {exc.strerror or exc}; nothing was written") from None
    try:
        deadline = time.monotonic() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    break  # no flock on this filesystem: the content check still guards
                if time.monotonic() >= deadline:
                    raise WriteError(f"{path} is being written by another vramrules (it holds {lock}); nothing was written; "
                                     "run the command again when it is done") from None
                time.sleep(0.02)
        yield
    finally:
        os.close(fd)  # releases the lock; the lock file stays (removing it would race)


def atomic_write(path, text: str, force: bool = False, expect=UNCHECKED) -> Path:
    """Write `text` to `path` via a temporary file and a rename (atomic_stream)."""
    with atomic_stream(path, force, expect) as f:
        f.write(text)
    return Path(path)


@contextlib.contextmanager
def atomic_stream(path, force: bool = False, expect=UNCHECKED):
    """A text stream onto `path`, written to a temporary file in the same folder and renamed into
    place only when the `with` block ends without an error (a sweep streams millions of rows
    through it in constant memory). Without `force`, an existing file is refused, and one that
    appears while the stream is written is kept (the rename is a hard link, which never
    replaces). With `expect` (the sha256 of the bytes the caller read, or None for "there was no
    file"), the rename happens only if the file still holds exactly that: else WriteError, and
    the file is left as the other writer made it."""
    path = Path(path)
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to replace it")
    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise UsageError(f"{directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:  # a read-only folder, /proc, a full disk: nothing was written
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}; the old file, if any, is unchanged") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~mask)
        if expect is not UNCHECKED and current_digest(path) != expect:
            raise WriteError(f"{path} changed while vramrules was adding to it; nothing was written "
                             "(another program saved it meanwhile: run the command again)")
        _place(tmp, path, force)
    except OSError as exc:
        raise WriteError(f"cannot write {path}: {exc.strerror or exc}; the old file, if any, is unchanged") from None
    finally:
        try:
            os.unlink(tmp)  # after a rename, the name is gone; after a hard link, the file lives on as `path`
        except OSError:
            pass


def _place(tmp: str, path: Path, force: bool) -> None:
    if force:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise UsageError(f"{path} appeared while vramrules wrote it; it is kept as it is: pass --force to replace it") from None
    except OSError:  # no hard links here (some network and FAT filesystems)
        if path.exists():
            raise UsageError(f"{path} appeared while vramrules wrote it; it is kept as it is: pass --force to replace it") from None
        os.replace(tmp, path)
