"""The on-disk compile cache: where it lives, who may use it, and safe writes.

Location: ``$THEANINE_CACHE_DIR``, else ``$XDG_CACHE_HOME/theanine``, else
``~/.cache/theanine``. The directory is created with mode 0700. A directory
owned by another user, or writable by group or others, is refused with a
clear message (someone else could plant code that this process would then
import and run).

Invariants:
- Every file is written to a temporary name in its final directory and
  renamed into place (``atomic_write``), so a reader sees a whole file or none,
  and two processes writing the same entry both succeed.
- ``clear()`` removes the cache's contents (the directory itself stays).

Console script: ``theanine-cache clear`` / ``theanine-cache info``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
import time


class UnsafeCacheError(RuntimeError):
    """The cache directory could be written by someone else: refused."""


def cache_root():
    """The configured cache directory (not created, not checked)."""
    d = os.environ.get("THEANINE_CACHE_DIR")
    if d:
        return os.path.abspath(os.path.expanduser(d))
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = xdg if xdg else os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.abspath(os.path.join(base, "theanine"))


def check_safe(path):
    """Raise UnsafeCacheError unless `path` is a directory owned by this user and
    not writable by group or others."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafeCacheError(f"theanine cache: {path} is not a plain directory; remove it "
                               "or set THEANINE_CACHE_DIR to a directory of your own")
    uid = getattr(os, "getuid", lambda: st.st_uid)()
    if st.st_uid != uid:
        raise UnsafeCacheError(
            f"theanine cache: {path} is owned by user id {st.st_uid}, not by you ({uid}); "
            "compiled code there could have been written by someone else. Set "
            "THEANINE_CACHE_DIR to a directory of your own.")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeCacheError(
            f"theanine cache: {path} is writable by group or others (mode "
            f"{stat.S_IMODE(st.st_mode):o}); compiled code there could be replaced by "
            f"someone else. Fix it with `chmod 700 {path}` or set THEANINE_CACHE_DIR.")


def cache_dir(*parts):
    """The cache directory (or a subdirectory), created 0700 and checked."""
    root = cache_root()
    if not os.path.isdir(root):
        os.makedirs(root, mode=0o700, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(root, 0o700)
    check_safe(root)
    path = root
    for p in parts:
        path = os.path.join(path, p)
        if not os.path.isdir(path):
            with contextlib.suppress(FileExistsError):
                os.mkdir(path, 0o700)
        check_safe(path)
    return path


def atomic_write(path, data):
    """Write bytes (or str) to `path` via a temporary file and a rename."""
    if isinstance(data, str):
        data = data.encode()
    d = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-", suffix=os.path.basename(path)[-20:])
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def file_lock(path, timeout=300.0):
    """An exclusive advisory lock on `path` (created if needed). After `timeout`
    seconds without the lock, proceeds anyway (the writes stay atomic)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic writes alone
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    locked = False
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except OSError:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        yield
    finally:
        if locked:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


_ON_CLEAR = []  # callbacks of modules holding what they loaded from the cache


def on_clear(fn):
    """Call fn() after each clear(): a module that keeps things loaded from the cache
    (the numba backend's kernel table) registers here when it is imported; returns fn."""
    _ON_CLEAR.append(fn)
    return fn


def clear():
    """Remove everything in the cache directory; returns the number of entries removed."""
    root = cache_root()
    if not os.path.isdir(root):
        return 0
    check_safe(root)
    n = 0
    for name in os.listdir(root):
        p = os.path.join(root, name)
        if os.path.isdir(p) and not os.path.islink(p):
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(p)
        n += 1
    for fn in _ON_CLEAR:
        fn()
    return n


def info():
    """(directory, number of files, total bytes)."""
    root = cache_root()
    files = size = 0
    if os.path.isdir(root):
        for dirpath, _, names in os.walk(root):
            for n in names:
                files += 1
                with contextlib.suppress(OSError):
                    size += os.path.getsize(os.path.join(dirpath, n))
    return root, files, size


def main(argv=None):
    """``theanine-cache clear|info``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in ("clear", "info"):
        print("usage: theanine-cache clear|info", file=sys.stderr)
        return 2
    try:
        if argv[0] == "clear":
            n = clear()
            print(f"removed {n} entries from {cache_root()}")
        else:
            root, files, size = info()
            print(f"{root}: {files} files, {size / 1e6:.1f} MB")
    except UnsafeCacheError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
