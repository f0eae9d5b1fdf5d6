"""Why h5py could not open a file, told from the file's structure, never from the words of h5py's message.

h5py reports every failure to open a file as an ``OSError`` whose text is HDF5's error stack. Matching words in that
text misleads: HDF5's message for a truncated file contains ``sblock->base_addr``, which holds the word "lock". So
:func:`diagnose` looks at facts instead, in this order:

1. locked: the ``errno`` h5py attaches (``EAGAIN``/``EWOULDBLOCK`` from HDF5's ``flock``), or a non-blocking ``flock``
   probe of our own that another open handle refuses (HDF5 locks with ``flock``: shared to read, exclusive to write);
2. permission denied: the ``errno`` (``EACCES``/``EPERM``);
3. empty: zero bytes on disk;
4. not HDF5: no HDF5 signature at offset 0, 512, 1024, 2048, ... (where HDF5 itself looks for one);
5. truncated: fewer bytes on disk than the end-of-file address the superblock records (HDF5's own test), or the
   file ends inside the signature or the superblock;
6. damaged: none of the above (the superblock or the root group's metadata is corrupted).
"""

from __future__ import annotations

import enum
import errno
import os
import pathlib
import shutil
from dataclasses import dataclass

SIGNATURE = b"\x89HDF\r\n\x1a\n"
_UNDEFINED_BYTE = 0xFF  # an HDF5 address with every byte 0xff is "undefined"
_LOCK_ERRNOS = frozenset({errno.EAGAIN, errno.EWOULDBLOCK})
_PERMISSION_ERRNOS = frozenset({errno.EACCES, errno.EPERM})


class Cause(enum.Enum):
    """Why a file could not be opened."""

    LOCKED = "locked"
    """Another open handle (usually another process) holds HDF5's lock on the file."""
    PERMISSION = "permission"
    """The operating system refused access."""
    EMPTY = "empty"
    """The file has zero bytes."""
    NOT_HDF5 = "not_hdf5"
    """The file carries no HDF5 signature: it is some other kind of file."""
    TRUNCATED = "truncated"
    """The file is shorter than its superblock says: it was cut short."""
    DAMAGED = "damaged"
    """An HDF5 file whose header or root metadata cannot be read."""


@dataclass(frozen=True)
class Superblock:
    """The fields of an HDF5 superblock that tell whether the file is whole."""

    offset: int
    """Where the signature is (0 unless the file has a user block)."""
    version: int
    """Superblock version (0 and 1: HDF5's default layout; 2 and 3: libver v18 and later)."""
    end_of_file: int | None
    """The end-of-file address the superblock records (the file's size when it was last flushed); None if undefined
    or unreadable."""
    cut: bool = False
    """The file ends inside the superblock."""


@dataclass(frozen=True)
class Diagnosis:
    """What :func:`diagnose` found."""

    cause: Cause
    size: int
    """Bytes on disk (0 when the file could not be stat'ed)."""
    expected_size: int | None = None
    """The end-of-file address recorded in the superblock, when there is one."""


def read_superblock(path: str | os.PathLike) -> Superblock | None:
    """Find the HDF5 signature and read the superblock's end-of-file address; None when there is no signature."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if 0 < size < len(SIGNATURE + b"v") and (SIGNATURE + b"v").startswith(f.read()):
            return Superblock(0, -1, None, cut=True)  # cut inside the signature or before the version byte
        offset = 0
        while offset + len(SIGNATURE) < size:
            f.seek(offset)
            head = f.read(128)
            if head.startswith(SIGNATURE):
                end, cut = _end_of_file(head)
                return Superblock(offset, head[8], end, cut)
            offset = 512 if offset == 0 else offset * 2
    return None


def _end_of_file(head: bytes) -> tuple[int | None, bool]:
    """The end-of-file address of a superblock starting at ``head[0]`` (the layouts of the HDF5 file format spec),
    and whether ``head`` ends before it."""
    version = head[8]
    if version in (0, 1):
        # signature 8, five version bytes, size of offsets (byte 13), size of lengths, reserved, two K's, flags:
        # 24 bytes (v1 adds 4), then the base, free-space, end-of-file and driver-info addresses
        width, first = head[13], (24 if version == 0 else 28)
    elif version in (2, 3):
        # signature 8, version, size of offsets (byte 9), size of lengths, flags: 12 bytes, then the base,
        # superblock-extension and end-of-file addresses
        width, first = head[9], 12
    else:
        return None, False
    if len(head) <= 13:
        return None, True
    start = first + 2 * width
    field = head[start : start + width]
    if width not in (2, 4, 8, 16):
        return None, False
    if len(field) < width:
        return None, True
    if all(b == _UNDEFINED_BYTE for b in field):
        return None, False
    return int.from_bytes(field, "little"), False


def locked_elsewhere(path: str | os.PathLike, *, exclusive: bool) -> bool:
    """Whether another open handle holds an ``flock`` on ``path`` that a reader (or, if exclusive, a writer) would
    conflict with. False where ``flock`` does not exist or the file system has no locks."""
    try:
        import fcntl
    except ImportError:  # Windows: HDF5 does not lock there either
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # ENOLCK, ENOSYS...: no locks here, so nobody holds one
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def diagnose(path: str | os.PathLike, exc: OSError, *, writing: bool) -> Diagnosis:
    """Why ``h5py.File(path, ...)`` raised ``exc``; ``writing``: it was opened for writing.

    Example:
        >>> import tempfile
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "d.h5"
        >>> _ = path.write_bytes(b"")
        >>> diagnose(path, OSError("file signature not found"), writing=False).cause
        <Cause.EMPTY: 'empty'>
    """
    path = pathlib.Path(path)
    if exc.errno in _LOCK_ERRNOS or locked_elsewhere(path, exclusive=writing):
        return Diagnosis(Cause.LOCKED, _size(path))
    if exc.errno in _PERMISSION_ERRNOS or isinstance(exc, PermissionError):
        return Diagnosis(Cause.PERMISSION, _size(path))
    try:
        size = path.stat().st_size
        superblock = read_superblock(path) if size else None
    except PermissionError:
        return Diagnosis(Cause.PERMISSION, 0)
    except OSError:
        return Diagnosis(Cause.DAMAGED, 0)
    if size == 0:
        return Diagnosis(Cause.EMPTY, 0)
    if superblock is None:
        return Diagnosis(Cause.NOT_HDF5, size)
    if superblock.cut or (superblock.end_of_file is not None and size < superblock.end_of_file):
        return Diagnosis(Cause.TRUNCATED, size, superblock.end_of_file)
    return Diagnosis(Cause.DAMAGED, size, superblock.end_of_file)


def _size(path: pathlib.Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def room_for(path: str | os.PathLike) -> int:
    """Bytes this process can still add to ``path``: the free space of its file system (for unprivileged users) and,
    where one is set, the per-file size limit (``ulimit -f``), whichever is smaller."""
    path = pathlib.Path(path)
    room = shutil.disk_usage(path if path.is_dir() else path.parent).free
    try:
        import resource
    except ImportError:  # Windows
        return room
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY:
        room = min(room, max(0, limit - _size(path)))
    return room
