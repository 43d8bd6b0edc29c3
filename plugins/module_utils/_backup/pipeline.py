# Copyright (c) frende.db contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Running client tools and shell-free pipelines with pipefail semantics.

Private to frende.db; stdlib only (it runs inside the frende-db-backup command).
A pipeline is ``stage | stage | ...`` whose last output is read by Python (so it
can be hashed and written with a clear error on a full disk). Every stage's exit
status is checked: one failing stage fails the whole pipeline.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import signal
import subprocess
import tempfile
import threading

from ansible_collections.frende.db.plugins.module_utils._errors import FrendeDbError

CHUNK = 1 << 20
# Linux F_SETPIPE_SZ: bigger pipes mean fewer context switches between pg_dump
# and the compressor on a 2-core host.
_F_SETPIPE_SZ = 1031
_PIPE_SIZE = 1 << 20
NO_SPACE = "No space left on device"


class DiskFullError(FrendeDbError):
    pass


def disk_full(where):
    return DiskFullError(
        "No space left on device while writing %s. Nothing was kept; free space there (or move "
        "backup_dir/work_dir to a larger file system) and run again." % where
    )


def _grow_pipe(fileobj):
    try:
        fcntl.fcntl(fileobj.fileno(), _F_SETPIPE_SZ, _PIPE_SIZE)
    except OSError:  # an unprivileged limit below 1 MiB: the default works, only slower
        pass


def _tail(handle, limit=600):
    handle.seek(0)
    text = handle.read().decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    joined = " | ".join(lines[-6:])
    return joined[-limit:]


def _describe_status(code):
    if code < 0:
        try:
            return "killed by %s" % signal.Signals(-code).name
        except ValueError:
            return "killed by signal %d" % -code
    return "exit %d" % code


def run(argv, env, what, input_bytes=None, timeout=None):
    """Run one command to completion; return stdout text or raise with its stderr."""
    try:
        proc = subprocess.run(argv, input=input_bytes, capture_output=True, env=env, timeout=timeout, check=False,
                              stdin=None if input_bytes is not None else subprocess.DEVNULL)
    except FileNotFoundError:
        raise FrendeDbError("%s: the program %s is not installed on this host." % (what, argv[0]))
    except subprocess.TimeoutExpired:
        raise FrendeDbError("%s: %s did not finish within %s seconds." % (what, os.path.basename(argv[0]), timeout))
    err = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        if NO_SPACE in err:
            raise disk_full(what)
        raise FrendeDbError("%s: %s failed (%s): %s" % (
            what, os.path.basename(argv[0]), _describe_status(proc.returncode), err[-600:]))
    return proc.stdout.decode("utf-8", "replace")


class Pipeline:
    """``stages[0] | stages[1] | ...``; use as a context manager (kills what still runs on error).

    ``stages`` is a list of argv lists. The first stage reads ``feed_path`` (fed and hashed by a thread, or
    nothing). The last stage writes to ``stdout_fd`` or, by default, to ``pump(sink)``.
    """

    def __init__(self, stages, env, what, feed_path=None, stdout_fd=None):
        self.stages = stages
        self.env = env
        self.what = what
        self.feed_path = feed_path
        self.stdout_fd = stdout_fd
        self.procs = []
        self._errs = []
        self.feeder = None

    def start(self):
        previous = subprocess.PIPE if self.feed_path else subprocess.DEVNULL
        last = len(self.stages) - 1
        try:
            for index, argv in enumerate(self.stages):
                err = tempfile.TemporaryFile()
                self._errs.append(err)
                out = self.stdout_fd if index == last and self.stdout_fd is not None else subprocess.PIPE
                try:
                    proc = subprocess.Popen(argv, stdin=previous, stdout=out, stderr=err,
                                            env=self.env, close_fds=True)
                except FileNotFoundError:
                    raise FrendeDbError("%s: the program %s is not installed on this host." % (self.what, argv[0]))
                if index == 0 and self.feed_path:
                    _grow_pipe(proc.stdin)
                    self.feeder = Worker(lambda stdin=proc.stdin: _feed(self.feed_path, stdin))
                elif previous not in (subprocess.DEVNULL, subprocess.PIPE):
                    previous.close()  # only the child keeps it, so SIGPIPE/EOF travel along the chain
                if proc.stdout is not None:
                    _grow_pipe(proc.stdout)
                self.procs.append(proc)
                previous = proc.stdout
            if self.feeder:
                self.feeder.start()
        except BaseException:
            if previous not in (subprocess.DEVNULL, subprocess.PIPE, None) and not previous.closed:
                previous.close()
            self.kill()
            raise
        return self

    @property
    def output(self):
        return self.procs[-1].stdout

    def pump(self, sink):
        """Hand the last stage's output to ``sink.write(chunk)`` until it ends."""
        fd = self.output.fileno()
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            sink.write(chunk)

    def kill(self):
        if self.procs and self.procs[0].stdin and not self.procs[0].stdin.closed:
            try:
                self.procs[0].stdin.close()
            except OSError:
                pass
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    proc.kill()
                except OSError:
                    pass
        for proc in self.procs:
            try:
                proc.wait()
            except OSError:
                pass
            if proc.stdout and not proc.stdout.closed:
                proc.stdout.close()

    def wait(self):
        """Wait for every stage; raise when any of them failed (pipefail).

        With ``feed_path``, returns (sha256 hex, size) of the file fed in; the
        digest covers the whole file even when a stage stopped reading early.
        """
        fed = self.feeder.get() if self.feeder else None
        failures = []
        for argv, proc, err in zip(self.stages, self.procs, self._errs):
            code = proc.wait()
            if proc.stdout and not proc.stdout.closed:
                proc.stdout.close()
            if code != 0:
                failures.append((os.path.basename(argv[0]), code, _tail(err)))
        for err in self._errs:
            err.close()
        if failures:
            if any(NO_SPACE in failure[2] for failure in failures):
                raise disk_full(self.what)
            # A stage killed by SIGPIPE is a victim of a later stage's failure: name the cause first.
            failures.sort(key=lambda f: f[1] == -signal.SIGPIPE)
            raise FrendeDbError("%s failed: %s" % (self.what, "; ".join(
                "%s %s%s" % (name, _describe_status(code), (": " + text) if text else "")
                for name, code, text in failures)), fed=fed)
        return fed

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.kill()
            for err in self._errs:
                err.close()
        return False


def _feed(path, stdin):
    """Write ``path`` into a child's stdin while hashing it; keep hashing if the child stops reading."""
    writing = True

    def write(chunk):
        nonlocal writing
        if writing:
            try:
                stdin.write(chunk)
            except (BrokenPipeError, ValueError, OSError):
                writing = False

    try:
        return sha256_file(path, each=write)
    finally:
        try:
            stdin.close()
        except OSError:
            pass


class HashingFile:
    """A sink that writes to an open fd while computing SHA-256 and the size."""

    def __init__(self, fd, where, digest=True):
        self.fd = fd
        self.where = where
        self.sha256 = hashlib.sha256() if digest else None
        self.size = 0

    def write(self, chunk):
        view = memoryview(chunk)
        if self.sha256 is not None:
            self.sha256.update(view)
        while view:
            try:
                written = os.write(self.fd, view)
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise disk_full(self.where)
                raise FrendeDbError("Could not write %s: %s" % (self.where, exc.strerror))
            view = view[written:]
        self.size += len(chunk)


class CountingSink:
    """Keeps the head and tail of a stream (to check its framing) and counts bytes."""

    def __init__(self, keep=512):
        self.keep = keep
        self.head = b""
        self.tail = b""
        self.size = 0

    def write(self, chunk):
        if len(self.head) < self.keep:
            self.head += chunk[: self.keep - len(self.head)]
        self.tail = (self.tail + chunk)[-self.keep:]
        self.size += len(chunk)


class ProcessSink:
    """Feeds a stream to a reader process (e.g. ``pg_restore --list``) that may stop reading early.

    The rest of the stream is still consumed, so the producer runs to its end and
    its exit status proves the whole stream decompressed.
    """

    def __init__(self, argv, env, what):
        self.what = what
        self.argv = argv
        self.out = tempfile.TemporaryFile()
        self.err = tempfile.TemporaryFile()
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=self.out, stderr=self.err, env=env)
        except FileNotFoundError:
            raise FrendeDbError("%s: the program %s is not installed on this host." % (what, argv[0]))
        self.open = True
        self.size = 0

    def write(self, chunk):
        self.size += len(chunk)
        if not self.open:
            return
        try:
            self.proc.stdin.write(chunk)
        except (BrokenPipeError, ValueError):
            self.open = False

    def finish(self):
        """Output text of the reader; raises when it failed."""
        if self.open:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
        code = self.proc.wait()
        self.out.seek(0)
        text = self.out.read().decode("utf-8", "replace")
        detail = _tail(self.err)
        self.out.close()
        self.err.close()
        if code != 0:
            raise FrendeDbError("%s: %s failed (%s): %s" % (
                self.what, os.path.basename(self.argv[0]), _describe_status(code), detail))
        return text

    def abort(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.out.close()
        self.err.close()


class Worker(threading.Thread):
    """A thread that keeps its result or its exception for the caller's join()."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self._target_fn = target
        self.result = None
        self.error = None

    def run(self):
        try:
            self.result = self._target_fn()
        except BaseException as exc:  # re-raised in the caller's thread by get()
            self.error = exc

    def get(self):
        self.join()
        if self.error is not None:
            raise self.error
        return self.result


def sha256_file(path, each=None):
    """(hex SHA-256, size) of the file at ``path``; ``each(chunk)`` sees every chunk read."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb", buffering=0) as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
            if each is not None:
                each(chunk)
    return digest.hexdigest(), size


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
