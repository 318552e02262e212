"""Output folders: what twin may write into, and putting new results in place atomically.

twin replaces a run's results folder whole and writes a study's files into its folder, so it
must never be pointed at a folder that holds anything else. This module decides which folders
twin may use, swaps a freshly written folder into place, and tidies up after a killed write.

What counts as twin's own folder
--------------------------------
A **run folder** is a real directory (not a symbolic link) with a ``manifest.json`` (a JSON
object under 1 MiB) that either carries ``"format": "twin-results/<n>"`` (written from
:data:`RESULTS_FORMAT` on) or, written by earlier versions, has ``scenario_hash``, ``seed`` and
``versions.twin``; and whose every entry is a regular file named in :data:`RUN_FILES`, a
``.report.html-*`` left by a killed ``twin report``, the swap marker ``.twin-swap``, or an
``images`` directory of ``plot-*.png`` / ``plot-*.svg`` files. One foreign file (a notebook
saved next to the results) makes the folder the user's: it is refused, not replaced.

A **study folder** holds only :data:`STUDY_FILES` (and their ``.NAME.tmp`` write-in-progress
twins), as regular files, and at least one of them has the study's shape: ``study.json`` with
``name``, ``plan`` and ``spec``; ``summary.json`` with ``runs_planned``, ``parameters`` and
``sampling``; or a ``runs.jsonl`` journal whose first line is a run record (``key``, ``run``,
``status``, ``records``) or that is empty (a study killed before its first run).

An **empty folder** may be used for either. Anything else is refused with
:class:`OutputDirError`: a file, the filesystem root, the working directory or a folder holding
it, a folder holding the scenario or study file, a mount point (it cannot be swapped), a
folder twin cannot write to, and a **symbolic link**: twin would replace the link, not the
folder it points to, so it asks for that folder by its own name instead.

The swap
--------
:func:`staged` yields a temporary folder ``.<name>.twin-tmp-<token>`` beside the target,
holding a marker ``.twin-swap`` (``{"target": name, "token": token, ...}``) that the writer
keeps ``flock``-ed while it lives. Once the results are written, the target is checked again
(a run may take hours) and then, on Linux, ``renameat2(RENAME_EXCHANGE)`` swaps the two
folders in one step: at every instant the target is the complete old or the complete new
folder. The old contents, now at the temporary name, are checked to be twin's once more
(closing the window between check and swap: if a user's file slipped in, the swap is undone
and refused) and removed, ``manifest.json`` first so that a half-removed copy is never taken
for results; last the marker is removed from the target. (A target name over 200 bytes is
replaced by its digest in these names, to stay under NAME_MAX.)
Where the exchange is not available (another OS, a filesystem without it) the target is
renamed to ``.<name>.twin-old-<token>`` and the temporary folder renamed into its place; a
kill between the two renames leaves the target absent, and the next start puts it back.

Recovery
--------
:func:`recover` runs in every check of a run's target (so on the next ``twin run`` or
:func:`twin.write_results` to it, before anything else). It only ever looks at real
directories in the target's parent named ``.<name>.twin-tmp-<token>`` or
``.<name>.twin-old-<token>``, and:

1. if the target is absent, renames the newest ``twin-old`` folder that is a complete run
   folder (or empty), and whose writer is gone, back to the target: a move, which cannot
   lose anything;
2. if the target holds a marker whose writer is gone, the sibling with that marker's token
   is what that completed swap moved out: it is removed if it holds nothing but twin's file
   names, then the marker is removed;
3. a ``twin-tmp`` folder holding its own marker (same token and target) whose writer is gone
   (the marker's lock is free) is an unfinished write: removed;
4. an empty one older than a minute (a kill between creating it and its marker) is removed.

Everything else is left alone: twin deletes only what it can prove is its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from twin.errors import TwinError

try:  # POSIX: the writer holds a lock on its marker, so recovery knows it is alive
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

RESULTS_FORMAT = "twin-results/1"
MARKER = ".twin-swap"
RUN_FILES = frozenset(
    {
        "summary.json",
        "manifest.json",
        "nodes.csv",
        "timeseries.csv",
        "nodes.parquet",
        "timeseries.parquet",
        "events.csv",
        "latency_hist.json",
        "report.html",
    }
)
STUDY_FILES = frozenset({"runs.jsonl", "study.json", "study.csv", "summary.json", "report.html"})
_STUDY_TMP = frozenset(f".{n}.tmp" for n in STUDY_FILES)  # run_study's _write_atomic temps
_IMAGE = re.compile(r"plot-[A-Za-z0-9_-]+\.(png|svg)")
# twin run --telemetry: the simulated uplinks per policy (twin.telemetry.formats).
TELEMETRY_DIR = "telemetry"
_TELEMETRY = re.compile(r"[A-Za-z0-9_-]+\.(chirpstack\.jsonl|ttn\.jsonl|csv)")
_REPORT_TMP = re.compile(r"\.report\.html-[A-Za-z0-9_]+")  # write_report's mkstemp leftovers
_MANIFEST_MAX = 1 << 20
# An empty temp folder younger than this may belong to a writer about to create its marker.
_STALE_S = 60.0
# Test hooks: die right after a named step of the swap; force the two-rename fallback.
KILL_ENV = "TWIN_TEST_KILL_AT"
NO_EXCHANGE_ENV = "TWIN_TEST_NO_EXCHANGE"
_NEW = "choose a new folder"

Kind = Literal["missing", "empty", "run", "study", "file", "symlink", "other"]


class OutputDirError(TwinError):
    """A folder twin will not write results to, or cannot.

    Parameters
    ----------
    path : path
        The folder as the user gave it.
    why : str
        What is wrong with it ("it is a file, not a folder").
    fix : str
        What to do instead ("choose a new folder").
    """

    def __init__(self, path: str | Path, why: str, fix: str) -> None:
        self.path, self.why, self.fix = str(path), why, fix
        super().__init__(f"{path}: {why}; {fix}")


# --------------------------------------------------------------------------- classification


@dataclass(frozen=True)
class Folder:
    """What a path holds, as far as twin is concerned.

    Attributes
    ----------
    kind : str
        ``missing``, ``empty``, ``run``, ``study``, ``file`` (anything but a directory),
        ``symlink`` or ``other`` (a directory twin did not write, or not only twin).
    looks_like : str or None
        For ``other``: ``run`` or ``study`` when twin's marker files are there but so are
        files twin did not write.
    foreign : tuple of str
        For ``other``: the entries twin did not write (directories end in ``/``).
    """

    kind: Kind
    looks_like: str | None = None
    foreign: tuple[str, ...] = ()


def classify(path: str | Path) -> Folder:
    """What ``path`` is: missing, empty, a twin run or study folder, or someone else's."""
    path = Path(path)
    if path.is_symlink():
        return Folder("symlink")
    if not path.exists():
        return Folder("missing")
    if not path.is_dir():
        return Folder("file")
    entries = _entries(path)
    if not entries:
        return Folder("empty")
    if _run_manifest(path):
        foreign = _foreign(path, entries, _is_run_entry)
        return Folder("other", "run", foreign) if foreign else Folder("run")
    if _study_shaped(path):
        foreign = _foreign(path, entries, _is_study_entry)
        return Folder("other", "study", foreign) if foreign else Folder("study")
    return Folder("other", None, tuple(_shown(path, e) for e in entries))


def _entries(path: Path) -> list[str]:
    return sorted(os.listdir(path))


def _shown(parent: Path, name: str) -> str:
    p = parent / name
    return name + "/" if p.is_dir() and not p.is_symlink() else name


def _foreign(path: Path, entries: list[str], known) -> tuple[str, ...]:
    return tuple(_shown(path, e) for e in entries if not known(path, e))


def _regular(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _is_run_entry(folder: Path, name: str) -> bool:
    p = folder / name
    if name == "images" and p.is_dir() and not p.is_symlink():
        return all(_IMAGE.fullmatch(i) and _regular(p / i) for i in os.listdir(p))
    if name == TELEMETRY_DIR and p.is_dir() and not p.is_symlink():
        return all(_TELEMETRY.fullmatch(i) and _regular(p / i) for i in os.listdir(p))
    known = name in RUN_FILES or name == MARKER or _REPORT_TMP.fullmatch(name)
    return bool(known) and _regular(p)


def _is_study_entry(folder: Path, name: str) -> bool:
    return (name in STUDY_FILES or name in _STUDY_TMP) and _regular(folder / name)


def _read_json(path: Path, limit: int = _MANIFEST_MAX):
    """A small JSON file's value, or None if it is missing, large, unreadable or not JSON."""
    try:
        if not _regular(path) or path.stat().st_size > limit:
            return None
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _run_manifest(folder: Path) -> bool:
    m = _read_json(folder / "manifest.json")
    if not isinstance(m, dict):
        return False
    if isinstance(m.get("format"), str) and m["format"].startswith("twin-results/"):
        return True
    # Written before the format marker: what every twin manifest has held since 0.1.
    versions = m.get("versions")
    return {"scenario_hash", "seed"} <= set(m) and isinstance(versions, dict) and "twin" in versions


def _study_shaped(folder: Path) -> bool:
    meta = _read_json(folder / "study.json")
    if isinstance(meta, dict) and {"name", "plan", "spec"} <= set(meta):
        return True
    summary = _read_json(folder / "summary.json")
    if isinstance(summary, dict) and {"runs_planned", "parameters", "sampling"} <= set(summary):
        return True
    journal = folder / "runs.jsonl"
    if not _regular(journal):
        return False
    try:
        with journal.open("rb") as fh:
            first = fh.readline(_MANIFEST_MAX)
    except OSError:
        return False
    if not first:
        return True  # a study killed before its first run finished
    try:
        rec = json.loads(first)
    except ValueError:
        return False
    return isinstance(rec, dict) and {"key", "run", "status", "records"} <= set(rec)


def mark_manifest(manifest: dict) -> dict:
    """``manifest`` with twin's results-folder marker, ``"format": RESULTS_FORMAT``, first."""
    return {"format": RESULTS_FORMAT, **{k: v for k, v in manifest.items() if k != "format"}}


# --------------------------------------------------------------------------- pre-flight


def _target(out: str | Path, inputs: Iterable[str | Path]) -> Path:
    """``out`` made absolute (its parent resolved), or an error if it must never be used."""
    given = Path(out)
    if given.name in ("", ".", ".."):
        target = given.resolve()
    else:
        target = given.parent.resolve() / given.name
    fix = f"{_NEW} for the results (a new subfolder, such as results/run1)"
    if target == Path(target.anchor):
        raise OutputDirError(out, "it is the filesystem root", fix)
    with contextlib.suppress(OSError):  # the working directory may have been deleted
        cwd = Path.cwd().resolve()
        if target == cwd:
            raise OutputDirError(out, f"it is the working directory ({cwd})", fix)
        if cwd.is_relative_to(target):
            raise OutputDirError(out, f"it holds the working directory ({cwd})", fix)
    for item in inputs:
        real = Path(item).resolve()
        if real == target:
            raise OutputDirError(out, f"it is the input file {item}", _NEW)
        if real.is_relative_to(target):
            raise OutputDirError(out, f"it holds the input file {item}", fix)
    if target.is_symlink():
        raise OutputDirError(
            out,
            f"it is a symbolic link (to {os.readlink(target)}); twin would replace the link, "
            "not the folder it points to",
            f"give that folder by its own name, or {_NEW}",
        )
    if os.path.ismount(target):
        raise OutputDirError(
            out, "it is a mount point, which cannot be swapped for a new folder",
            "choose a new folder inside it",
        )  # fmt: skip
    return target


def _check_writable(out: str | Path, target: Path, place: Path) -> None:
    """The nearest existing folder at or above ``place`` must take new entries."""
    while not os.path.lexists(place):
        place = place.parent
    if not place.is_dir():
        raise OutputDirError(out, f"{place} is a file, not a folder", _NEW)
    if not os.access(place, os.W_OK | os.X_OK):
        where = "it" if place == target else str(place)
        raise OutputDirError(
            out,
            f"twin cannot write to {where} (permission denied)",
            "choose a folder you can write to, or change its permissions",
        )


def _refuse(out: str | Path, folder: Folder, want: str) -> OutputDirError:
    """The error for a folder of the wrong kind, saying what is in it."""
    if folder.kind == "file":
        return OutputDirError(out, "it is a file, not a folder", f"{_NEW} for the {want}")
    if folder.kind in ("run", "study"):  # twin's, but the other kind
        held = "a twin run's results" if folder.kind == "run" else "a twin study"
        return OutputDirError(out, f"it holds {held}, not a {want}", f"{_NEW} for the {want}")
    shown = ", ".join(folder.foreign[:3])
    if len(folder.foreign) > 3:
        shown += f" and {len(folder.foreign) - 3} more"
    if folder.looks_like:
        held = "a twin run's results" if folder.looks_like == "run" else "a twin study"
        why = f"it holds {held} and files twin did not write ({shown})"
        return OutputDirError(out, why, f"move those files out, or {_NEW}")
    verb = "replaces the folder whole" if want == "run" else "writes its files into it"
    return OutputDirError(
        out,
        f"it holds files twin did not write ({shown}), and twin {verb}",
        f"{_NEW}, or empty this one yourself",
    )


def check_results_dir(out: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """Pre-flight check of a run's results folder: call it before a long run.

    Recovers what an earlier killed write left (see the module notes), then accepts a folder
    that does not exist yet, an empty one, or a twin run folder (which will be replaced).
    Writes nothing otherwise.

    Parameters
    ----------
    out : path
        The results folder.
    inputs : paths
        Files the run reads (the scenario): a folder holding one is refused.

    Returns
    -------
    Path
        The folder, absolute.

    Raises
    ------
    OutputDirError
        If twin must not or cannot write there; the message says why and what to do.
    """
    target = _target(out, inputs)
    if target.parent.is_dir():
        recover(target)  # a kill may have left the target absent, its copy beside it
    folder = classify(target)
    if folder.kind not in ("missing", "empty", "run"):
        raise _refuse(out, folder, "run")
    _check_writable(out, target, target.parent)  # the temp folder and the renames go here
    # The old contents are removed after the swap: their folders must let us.
    for d in (target, target / "images"):
        if folder.kind == "run" and d.is_dir():
            _check_writable(out, target, d)
    return target


def check_study_dir(out: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """Pre-flight check of a study folder: new, empty, or a twin study folder.

    Parameters
    ----------
    out : path
        The study folder.
    inputs : paths
        Files the study reads (study file, base scenario): a folder holding one is refused.

    Returns
    -------
    Path
        The folder, absolute.

    Raises
    ------
    OutputDirError
        If twin must not or cannot write there.
    """
    target = _target(out, inputs)
    folder = classify(target)
    if folder.kind not in ("missing", "empty", "study"):
        raise _refuse(out, folder, "study")
    _check_writable(out, target, target)
    return target


def make_study_dir(out: str | Path, inputs: Iterable[str | Path] = ()) -> Path:
    """:func:`check_study_dir`, then create the folder (and its parents) if needed."""
    target = check_study_dir(out, inputs)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_error(out, "cannot create it", exc) from None
    return target


def _os_error(out: str | Path, what: str, exc: OSError) -> OutputDirError:
    detail = exc.strerror or str(exc)
    if exc.filename:
        detail += f": {exc.filename}"
    return OutputDirError(out, f"{what} ({detail})", "choose another folder, or fix the cause")


# --------------------------------------------------------------------------- the swap


@functools.cache
def _libc_renameat2():
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28, musl >= 1.2.5
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_AT_FDCWD, _RENAME_NOREPLACE, _RENAME_EXCHANGE = -100, 1, 2


def _rename2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False where it (or the flag) is not supported here."""
    fn = None if os.environ.get(NO_EXCHANGE_ENV) else _libc_renameat2()
    if fn is None:
        return False
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # old kernel, or not this fs
        return False
    raise OSError(err, os.strerror(err), str(src), None, str(dst))


def _checkpoint(step: str) -> None:
    """Test hook: die here, as a kill would, when ``TWIN_TEST_KILL_AT`` names this step."""
    if os.environ.get(KILL_ENV) == step:
        os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))


def _stem(name: str) -> str:
    # Temp names add ~27 bytes; a name near NAME_MAX (255) is replaced by its digest.
    if len(os.fsencode(name)) <= 200:
        return name
    return hashlib.sha256(os.fsencode(name)).hexdigest()[:32]


def _sibling(target: Path, kind: str, token: str) -> Path:
    return target.with_name(f".{_stem(target.name)}.twin-{kind}-{token}")


def _make_temp(out: str | Path, target: Path) -> tuple[Path, str, int]:
    """A new temp folder beside ``target`` with its marker, locked: folder, token, fd."""
    for _ in range(100):
        token = secrets.token_hex(8)
        tmp = _sibling(target, "tmp", token)
        try:
            os.mkdir(tmp)  # not mkdtemp: the results get the user's usual permissions
            fd = os.open(tmp / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        except FileNotFoundError:  # removed by a recovery as an abandoned empty folder
            continue
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        info = {"format": "twin-swap/1", "target": target.name, "token": token,
                "pid": os.getpid(), "host": platform.node()}  # fmt: skip
        os.write(fd, json.dumps(info).encode())
        return tmp, token, fd
    raise OutputDirError(out, "cannot create a temporary folder beside it", _NEW)


@contextlib.contextmanager
def staged(out: str | Path, inputs: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Write a results folder atomically: yields a temporary folder to fill.

    When the ``with`` block ends normally the folder replaces ``out`` in one step (see the
    module notes); if it raises, the temporary folder is removed and ``out`` is untouched.

    Parameters
    ----------
    out : path
        The results folder; checked with :func:`check_results_dir` before and again just
        before the swap.
    inputs : paths
        Files the results come from (the scenario): a folder holding one is refused.

    Raises
    ------
    OutputDirError
        If the folder is refused, or writing or moving the results fails (nothing replaced).
    """
    target = check_results_dir(out, inputs)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp, token, fd = _make_temp(out, target)
    except OSError as exc:
        raise _os_error(out, "cannot create a temporary folder beside it", exc) from None
    swapped = False
    try:
        try:
            yield tmp
        except OSError as exc:  # disk full, quota, I/O error: say so without a traceback
            raise _os_error(out, "cannot write the results (nothing was replaced)", exc) from None
        _checkpoint("temp-written")
        swapped = _swap(out, tmp, target)
    finally:
        # Only while it is still ours: after a failed exchange-back it could hold the old.
        if not swapped and (_marker(tmp) or {}).get("token") == token:
            shutil.rmtree(tmp, ignore_errors=True)
        os.close(fd)  # releases the lock last: recovery leaves us alone until here


def _swap(out: str | Path, tmp: Path, target: Path) -> bool:
    """Put ``tmp`` in ``target``'s place and remove what was there; True once swapped."""
    folder = classify(target)
    if folder.kind == "missing":
        try:
            if not _rename2(tmp, target, _RENAME_NOREPLACE):
                os.rename(tmp, target)
        except FileExistsError:
            folder = classify(target)  # appeared while we wrote: replace it if it may be
        except OSError as exc:
            raise _os_error(out, "cannot move the results into place", exc) from None
        else:
            _checkpoint("renamed")
            _done(target)
            return True
    if folder.kind not in ("missing", "empty", "run"):
        raise _refuse(out, folder, "run")
    try:
        old = _replace(out, tmp, target)
    except OSError as exc:
        raise _os_error(out, "cannot move the results into place", exc) from None
    _remove_old(old)
    _done(target)
    return True


def _replace(out: str | Path, tmp: Path, target: Path) -> Path:
    """Swap ``tmp`` into ``target``; returns where the previous contents now are."""
    if _rename2(tmp, target, _RENAME_EXCHANGE):
        _checkpoint("exchanged")
        if _twin_old(tmp):
            return tmp
        _put_back(out, tmp, target, lambda: _rename2(tmp, target, _RENAME_EXCHANGE))
    old = _sibling(target, "old", tmp.name.rsplit("-", 1)[1])
    os.rename(target, old)
    _checkpoint("moved-old")
    if not _twin_old(old):
        _put_back(out, old, target, lambda: os.rename(old, target))
    try:
        os.rename(tmp, target)
    except OSError:
        os.rename(old, target)  # the target must not stay absent
        raise
    _checkpoint("renamed")
    return old


def _put_back(out: str | Path, aside: Path, target: Path, undo) -> None:
    """A file twin did not write slipped in between check and swap: undo the swap, refuse."""
    try:
        undo()
    except OSError as exc:  # never seen; if it happens, say where the user's folder is
        raise OutputDirError(
            out,
            f"files twin did not write appeared in it during the swap, and moving it back "
            f"failed ({exc.strerror}); it is intact at {aside}",
            "move it back yourself",
        ) from None
    raise _refuse(out, classify(target), "run")


def _twin_old(path: Path) -> bool:
    return classify(path).kind in ("empty", "run")


def _remove_old(old: Path) -> None:
    # manifest.json first: a half-removed copy must never pass for results (recovery rule 1).
    with contextlib.suppress(OSError):
        (old / "manifest.json").unlink()
    _checkpoint("old-partly-removed")
    shutil.rmtree(old, ignore_errors=True)  # what fails here, recovery finishes later
    _checkpoint("old-removed")


def _done(target: Path) -> None:
    with contextlib.suppress(OSError):
        (target / MARKER).unlink()


# --------------------------------------------------------------------------- recovery


@dataclass(frozen=True)
class _Stray:
    kind: str  # "tmp" or "old"
    token: str
    path: Path


def _strays(target: Path) -> list[_Stray]:
    pattern = re.compile(rf"\.{re.escape(_stem(target.name))}\.twin-(tmp|old)-([0-9a-f]{{16}})")
    out = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return []
    for e in entries:
        m = pattern.fullmatch(e.name)
        if m and e.is_dir(follow_symlinks=False):
            out.append(_Stray(m[1], m[2], Path(e.path)))
    return out


def _marker(folder: Path) -> dict | None:
    info = _read_json(folder / MARKER, 4096)
    return info if isinstance(info, dict) and isinstance(info.get("token"), str) else None


def _writer_gone(folder: Path) -> bool:
    """Whether no live writer holds ``folder``'s marker (its lock is free)."""
    try:
        fd = os.open(folder / MARKER, os.O_RDONLY)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False
            return True
        info = _marker(folder) or {}  # pragma: no cover - no flock: go by the pid
        return info.get("host") != platform.node() or not _pid_alive(info.get("pid"))
    finally:
        os.close(fd)


def _pid_alive(pid) -> bool:  # pragma: no cover - used where flock is missing
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, TypeError, ValueError):
        return False
    except OSError:
        return True
    return True


def _only_twin_names(folder: Path) -> bool:
    try:
        return all(_is_run_entry(folder, e) for e in os.listdir(folder))
    except OSError:
        return False


def recover(out: str | Path) -> list[str]:
    """Undo what a killed write to ``out`` left behind (the rules are in the module notes).

    Parameters
    ----------
    out : path
        The results folder.

    Returns
    -------
    list of str
        What was done, one line per folder restored or removed (empty if nothing).
    """
    given = Path(out)
    target = given.parent.resolve() / given.name if given.name not in ("", ".", "..") else None
    if target is None or not target.parent.is_dir():
        return []
    strays = _strays(target)
    done: list[str] = []
    if not os.path.lexists(target):
        done += _restore(target, strays)
    done += _finish_swap(target, strays)
    for s in strays:
        if not s.path.exists():
            continue
        if s.kind == "tmp" and _own_temp(s, target) and _writer_gone(s.path):
            shutil.rmtree(s.path, ignore_errors=True)
            done.append(f"removed the unfinished write {s.path.name}")
        elif _abandoned_empty(s.path):
            with contextlib.suppress(OSError):
                s.path.rmdir()  # rmdir removes nothing but an empty folder
                done.append(f"removed the empty {s.path.name}")
    return done


def _restore(target: Path, strays: list[_Stray]) -> list[str]:
    """Rule 1: the target is absent; put back the newest complete copy moved aside."""
    tokens_alive = {s.token for s in strays if s.kind == "tmp" and not _writer_gone(s.path)}
    olds = [s for s in strays if s.kind == "old" and s.token not in tokens_alive]
    for s in sorted(olds, key=lambda s: _mtime(s.path), reverse=True):
        if _twin_old(s.path):
            try:
                os.rename(s.path, target)
            except OSError:
                return []
            return [f"restored {target.name} from {s.path.name}"]
    return []


def _finish_swap(target: Path, strays: list[_Stray]) -> list[str]:
    """Rule 2: the target holds a finished swap's marker; remove what that swap moved out."""
    if target.is_symlink() or not target.is_dir():
        return []
    info = _marker(target)
    if info is None or not _writer_gone(target):
        return []
    done = []
    for s in strays:
        if s.token == info["token"] and _only_twin_names(s.path):
            shutil.rmtree(s.path, ignore_errors=True)
            done.append(f"removed the replaced results {s.path.name}")
    _done(target)
    return done


def _own_temp(s: _Stray, target: Path) -> bool:
    info = _marker(s.path)
    return info is not None and info["token"] == s.token and info.get("target") == target.name


def _abandoned_empty(path: Path) -> bool:
    try:
        return not os.listdir(path) and time.time() - path.stat().st_mtime > _STALE_S
    except OSError:
        return False


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0
