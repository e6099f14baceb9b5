"""The fork server's process (ablate.execution.forkserver starts it): it forks a child per request that runs one
entry script as `python script.py` would, and reports how it ended. Before the first job of each script it
imports what that script imports, and keeps it: that job pays its imports once, here, and every later job of
any script finds them loaded (a call that runs only light jobs never loads torch).

The server stays single-threaded and imports only (no torch thread pool, no CUDA context: both would break in a
forked child); it ignores a terminal's signals (it has its own session) and ends on SIGTERM or when the process
that started it (Snakemake) has gone, leaving running children to finish for their clients.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import gc
import importlib
import io
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path

from ablate.execution import forkserver

# what a job imports once it is under way, where its script's first lines import the key: the trainer (a train job
# imports it when it trains) and torch._dynamo (every torch.optim optimizer imports it at its first step: ~1.3 s)
LATE_IMPORTS = {"ablate.training.job": "ablate.training.trainer", "torch": "torch._dynamo"}
PARENT_POLL_S = 1.0  # how soon the server ends after Snakemake has gone


def script_imports(script: Path) -> list[str]:
    """The modules that the entry script imports at its top level."""
    names: dict[str, None] = {}
    for node in ast.parse(script.read_text(), str(script)).body:
        if isinstance(node, ast.Import):
            names.update(dict.fromkeys(alias.name for alias in node.names))
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names[node.module] = None
    return list(names)


_loaded: set[Path] = set()  # the scripts whose imports the server holds


def load_for(script: Path) -> None:
    """Import what `script` imports (and the late imports these lead to), once per script; then keep the garbage
    collector off those objects for good: a collection would touch (and copy into every child) the pages of
    ~10^6 objects that live as long as the server (ablate.training.job does the same in a job of its own)."""
    if script in _loaded:
        return
    gc.disable()
    try:
        for name in script_imports(script):
            _try_import(name)
        for first, late in LATE_IMPORTS.items():  # in order: the trainer brings torch, which brings torch._dynamo
            if first in sys.modules:
                _try_import(late)
    finally:
        gc.freeze()
        gc.enable()
    _loaded.add(script)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise RuntimeError("CUDA was initialised while importing: a forked child could not use it")


def _try_import(name: str) -> None:
    with contextlib.suppress(Exception):  # a job that imports it fails as it would without the server
        importlib.import_module(name)


def serve(listener: socket.socket, path: str, parent: int, scripts: Path) -> None:
    """Accept requests for the entry scripts in `scripts` on `listener`, the Unix socket at `path`, until SIGTERM
    or until process `parent` has gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the jobs' clients forward a terminal's ^C
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    wake_read, wake_write = socket.socketpair()
    wake_read.setblocking(False)
    wake_write.setblocking(False)
    signal.set_wakeup_fd(wake_write.fileno())
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector through the wakeup socket
    children: dict[int, socket.socket] = {}  # pid -> its client's connection
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    own = [selector, listener, wake_read, wake_write]  # what a child closes
    key = json.loads(json.dumps(forkserver.interpreter()))  # as a request brings it
    try:
        while os.getppid() == parent:
            for ready, _ in selector.select(PARENT_POLL_S):
                if ready.fileobj is listener:
                    conn = listener.accept()[0]
                    try:
                        _accept(conn, key, scripts, children, own)
                    except OSError:  # a client gone before its reply (it ran the job itself, or it was killed)
                        conn.close()
                else:
                    _drain(wake_read)
            _reap(children)
    finally:
        # before the wakeup socket is closed (here or at exit): a SIGCHLD after it would print "Bad file descriptor"
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        listener.close()
        Path(path).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            Path(path).parent.rmdir()  # the folder `start` made for it


def _drain(wake: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while wake.recv(512):
            pass


def _reap(children: dict[int, socket.socket]) -> None:
    """Tell the clients of the children that have ended how they ended."""
    while children:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        conn = children.pop(pid, None)
        if conn is not None:
            with contextlib.suppress(OSError):  # its client has gone
                conn.sendall(b"exit %d\n" % code if code >= 0 else b"signal %d\n" % -code)
            conn.close()


def _accept(conn: socket.socket, key: dict, scripts: Path, children: dict[int, socket.socket], own: list) -> None:
    """Fork a child for the request on `conn`, or refuse it (another interpreter's, a script not in `scripts`, or
    not a request)."""
    conn.settimeout(5.0)  # a client sends its request at once
    try:
        request, fds = forkserver.receive(conn)
    except ValueError:  # not JSON
        conn.close()
        return
    script = Path(request["script"])
    if request["interpreter"] != key or script.parent.resolve() != scripts or not script.is_file():
        for fd in fds:
            os.close(fd)
        conn.sendall(b"refused\n")
        conn.close()
        return
    conn.settimeout(None)
    load_for(script)
    try:
        conn.sendall(b"ok\n")
    except OSError:
        for fd in fds:
            os.close(fd)
        raise
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            signal.set_wakeup_fd(-1)  # before its socket is closed: a SIGCHLD after would write to a closed fd
            for handle in [*own, *children.values()]:
                handle.close()
            _run(request, fds, conn)
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(70)  # _run ends the process unless the child could not become the client's
    for fd in fds:
        os.close(fd)
    children[pid] = conn


def _run(request: dict, fds: list[int], conn: socket.socket) -> None:
    """In the child: become the client's process (its stdio, directory, environment, umask, argv) and run the
    script, ending as `python script.py` ends."""
    forkserver._in_child = True  # its wakeup fd is unset already (_accept, before the server's sockets close)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    _reopen_stdio(request["env"])
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.umask(request["umask"])
    torch = sys.modules.get("torch")
    threads = request["env"].get("OMP_NUM_THREADS", "")
    if torch is not None and threads.isdigit() and int(threads) != torch.get_num_threads():
        torch.set_num_threads(int(threads))  # as torch reads it in a new process (the server loaded with 1)
    threading.Thread(target=_watch, args=(conn,), daemon=True).start()
    script = request["script"]
    sys.argv = request["argv"]
    sys.path[0] = os.path.dirname(os.path.realpath(script))
    status = _main(script)
    conn.sendall(b"exit %d\n" % status)  # the server reports it too, unless it has gone
    os._exit(status)


def _main(script: str) -> int:
    """Run `script` as __main__ and then Python's exit (threads, atexit, flushing the streams); its exit status."""
    status = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as error:
        status = _exit_status(error.code)
    except KeyboardInterrupt as error:
        _print_uncaught(error, script)
        status = -signal.SIGINT  # Python ends by SIGINT then
    except BaseException as error:
        _print_uncaught(error, script)
        status = 1
    threading._shutdown()  # what Python's exit does first: wait for the script's non-daemon threads
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            status = status or 120  # as Python: output that could not be written
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    return status & 0xFF


def _print_uncaught(error: BaseException, script: str) -> None:
    """The traceback Python prints, from the script's frame on (not this module's or runpy's)."""
    tb = error.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    sys.excepthook(type(error), error.with_traceback(tb or error.__traceback__), error.__traceback__)


def _exit_status(code: object) -> int:
    """The exit status of SystemExit(code), as Python gives it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _reopen_stdio(env: dict) -> None:
    """sys.stdin, stdout and stderr over the client's descriptors, buffered as Python buffers them at its start."""
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    for fd, name in ((0, "stdin"), (1, "stdout"), (2, "stderr")):
        old = getattr(sys, name)
        raw = fd > 0 and unbuffered
        binary = open(fd, "wb" if fd else "rb", buffering=0 if raw else -1, closefd=False)  # noqa: SIM115
        stream = io.TextIOWrapper(
            binary,
            encoding=old.encoding,
            errors=old.errors,
            newline="\n",
            line_buffering=fd > 0 and not unbuffered and (fd == 2 or os.isatty(fd)),
            write_through=raw,
        )
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _watch(conn: socket.socket) -> None:
    """In the child: take the signals its client forwards, and die with the client (its end closed)."""
    for line in conn.makefile("rb"):
        if line.strip().isdigit():
            os.kill(os.getpid(), int(line))
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    """`python -c "from ablate.execution.forkhost import main; main()" SOCKET PARENT_PID SCRIPTS_DIR FD`: FD is the
    socket, listening already (forkserver.start): requests queue on it from the start."""
    path, parent, scripts, fd = sys.argv[1:]
    serve(socket.socket(fileno=int(fd)), path, int(parent), Path(scripts).resolve())
