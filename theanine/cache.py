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
- A problem with the cache (unsafe, a file in the way, a lock that is a
  directory) raises a CacheError whose message names the path, what is wrong
  and what to do; a user of the cache then keeps compiled code in memory only.
- The entries of a kind (``numba/<key>/``) stay under ``config.cache_max_mb``
  in total: ``evict`` removes the least recently used first (``touch`` marks a
  use), skipping entries whose lock another process holds.

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

from theanine.config import config

try:
    import fcntl
except ImportError:  # not POSIX: atomic writes alone
    fcntl = None


class CacheError(RuntimeError):
    """The cache cannot be used as it is; the message says where, why and what to do."""


class UnsafeCacheError(CacheError):
    """The cache directory could be written by someone else: refused."""


class CacheWarning(UserWarning):
    """Compiled code is kept in memory only, because of a CacheError."""


_ON_CLEAR = []  # callables run by clear() (a backend forgetting what it loaded)


def on_clear(fn):
    """Register fn() to run after clear(); returns fn."""
    _ON_CLEAR.append(fn)
    return fn


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
    """The cache directory (or a subdirectory), created 0700 and checked; a
    CacheError (UnsafeCacheError) names the path that cannot be used."""
    root = cache_root()
    try:
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
    except OSError as e:  # a file in the way, no permission, read-only file system
        raise CacheError(
            f"theanine cache: cannot use {e.filename or root} as a cache directory "
            f"({type(e).__name__}: {e.strerror or e}); remove what is in the way, fix "
            "its permissions, or set THEANINE_CACHE_DIR to a directory of your own"
        ) from None
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
def file_lock(path, timeout=300.0, blocking=True):
    """An exclusive advisory lock on `path` (created if needed). After `timeout`
    seconds without the lock, proceeds anyway (the writes stay atomic). With
    blocking=False, yields False at once when another process holds it.
    A directory at `path` (never made by theanine) is removed when empty, else
    a CacheError says what to do."""
    if fcntl is None:
        yield True
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except IsADirectoryError:
        try:
            os.rmdir(path)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            raise CacheError(f"theanine cache: the lock file {path} is a directory that is "
                             f"not empty; remove it (rm -r {path}) or run "
                             "`theanine-cache clear`") from None
    locked = False
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                locked = True
                break
            except OSError:
                if not blocking or time.monotonic() > deadline:
                    break
                time.sleep(0.02)
        yield locked or blocking
    finally:
        if locked:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def touch(path):
    """Mark the entry at `path` as used now (least recently used eviction)."""
    with contextlib.suppress(OSError):
        os.utime(path)


def tree_size(path):
    size = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            with contextlib.suppress(OSError):
                size += os.lstat(os.path.join(dirpath, n)).st_size
    return size


def entries(kind):
    """[(path, bytes, last use)] of the entries under `kind` (e.g. "numba")."""
    d = os.path.join(cache_root(), kind)
    out = []
    with contextlib.suppress(OSError):
        for name in os.listdir(d):
            p = os.path.join(d, name)
            with contextlib.suppress(OSError):
                st = os.lstat(p)
                if os.path.isdir(p) and not os.path.islink(p):
                    out.append((p, tree_size(p), st.st_mtime))
    return out


def limit_bytes():
    return int(config.cache_max_mb * 1e6)


def evict(kind, keep=(), limit=None):
    """Remove least recently used entries of `kind` until they total at most
    `limit` bytes (default: config.cache_max_mb; 0 means no limit), and then down
    to 90% of it, so that the next entries fit without another walk. Entries in
    `keep` (paths) and entries whose lock is held stay. Returns the bytes left."""
    limit = limit_bytes() if limit is None else limit
    found = entries(kind)
    total = sum(size for _, size, _ in found)
    if limit <= 0 or total <= limit:
        return total
    keep = set(keep)
    for path, size, _ in sorted(found, key=lambda e: e[2]):
        if total <= 0.9 * limit:
            break
        if path in keep:
            continue
        with file_lock(os.path.join(path, "lock"), blocking=False) as got:
            if not got:
                continue
            shutil.rmtree(path, ignore_errors=True)
        total -= size
    return total


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
            limit = (f"limit {config.cache_max_mb:g} MB (config.cache_max_mb; least "
                     "recently used entries are removed beyond it)"
                     if config.cache_max_mb > 0 else "no size limit")
            print(f"{root}: {files} files, {size / 1e6:.1f} MB, "
                  f"{len(entries('numba'))} compiled kernels; {limit}")
    except CacheError as e:
        print(str(e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
