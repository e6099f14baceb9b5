"""A fork server: one process per local Snakemake run that imports torch and the library once and runs each job's
entry script in a child forked from it, so that a job neither starts an interpreter nor imports torch again (~3 s
of a smoke train job on 2 cores; docs/performance.md).

The workflow starts it (`start`) and names its socket in ABLATE_FORK_SERVER; each entry script's first lines call
`delegate(__file__)`. That client, the job's own `python` process, hands the server its argv, working directory,
environment, umask and its stdin/stdout/stderr (file descriptors over the Unix socket); the server forks a child
that takes them on and runs the script as `python script.py` would (ablate.execution.forkhost). The client waits
and ends as the child ended (its exit status, or the same signal); it forwards SIGTERM, SIGINT and SIGHUP to the
child, and the child kills itself when its client's end of the connection closes (a client killed by SIGKILL).
Where there is no server, it refuses (the client's interpreter would import other code: another Python,
sys.path, flags or PYTHON*/LD_* variable), or this process is already a child, the script runs in the client.

Only the stdlib is imported here: the client is the first thing every job runs. The server imports by name what
each entry script it serves imports, before its first job; nothing in this package imports the stages.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path

ENV = "ABLATE_FORK_SERVER"  # the server's socket, for the jobs of one Snakemake run
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)  # how Snakemake and a terminal stop a job
HEADER = struct.Struct("!I")  # a request: its length, then JSON
# what Snakemake sets for each job from its threads (snakemake.shell), and libraries read when they load: the
# server imports with a one-thread job's (ablate.execution.forkhost)
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "GOTO_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_in_child = False  # true in the server's children, where the script calls delegate() again


def interpreter() -> dict:
    """What decides the code that `python script.py` imports: a client and its server must agree on it."""
    env = {key: value for key, value in os.environ.items() if key.startswith(("PYTHON", "LD_"))}
    flags = [*sys.flags, sorted(sys._xoptions.items()), sys.warnoptions]
    return {"python": os.path.realpath(sys.executable), "path": sys.path[1:], "env": env, "flags": flags}


def delegate(script: str) -> None:
    """Run the entry script `script` (its __file__) in a child of the fork server that ABLATE_FORK_SERVER names,
    and end as it ends; return where there is no server, it refuses, or this process is such a child."""
    path = os.environ.get(ENV)
    if not path or _in_child or not hasattr(socket, "send_fds"):
        return
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(path)
        umask = os.umask(0)
        os.umask(umask)
        request = {"script": os.path.abspath(script), "argv": sys.argv, "cwd": os.getcwd()}
        request.update(env=dict(os.environ), umask=umask, interpreter=interpreter())
        body = json.dumps(request).encode()
        socket.send_fds(client, [HEADER.pack(len(body)) + body], [0, 1, 2])
        replies = client.makefile("rb")
        accepted = replies.readline() == b"ok\n"
    except OSError:  # not started yet, or gone
        accepted = False
    if not accepted:
        client.close()
        return

    def forward(number: int, _) -> None:
        with contextlib.suppress(OSError):  # the child has ended: its status is on its way
            client.sendall(b"%d\n" % number)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    status = replies.readline().split()
    if len(status) == 2 and status[0] == b"exit":
        os._exit(int(status[1]))
    if len(status) == 2 and status[0] == b"signal":
        number = int(status[1])
        with contextlib.suppress(OSError):  # SIGKILL's cannot be set (the kernel's OOM killer sends it)
            signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
        os._exit(128 + number)  # a signal that does not end a process by default
    print(f"error: the fork server at {path} ended without the job's exit status", file=sys.stderr)
    os._exit(1)


def receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """A client's request and its three file descriptors (closed here if the request is not whole)."""
    data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
    try:
        if len(fds) != 3 or len(data) < HEADER.size:
            raise OSError("not a request")
        (size,) = HEADER.unpack_from(data)
        data = data[HEADER.size :]
        while len(data) < size:
            chunk = conn.recv(size - len(data))
            if not chunk:
                raise OSError("a request cut short")
            data += chunk
        return json.loads(data), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


class Server:
    """The fork server that this process started (`start`)."""

    def __init__(self, process, folder: Path) -> None:
        self.process = process
        self.folder = folder
        self.socket = str(folder / "socket")

    def stop(self) -> None:
        """End the server (children that still run finish for their clients) and remove its socket's folder."""
        import shutil
        import subprocess

        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
        if os.environ.get(ENV) == self.socket:
            del os.environ[ENV]


def start(scripts: str | Path) -> Server:
    """Start a fork server for the entry scripts in `scripts` and name its socket in ABLATE_FORK_SERVER for the jobs
    that this process starts. The socket lies in a new temporary folder: two workflows never share a server. The
    server has its own session (a terminal's ^C reaches the jobs' clients, which forward it) and ends with this
    process, at its exit or within a second of its death. The socket listens before this returns, so that no job
    runs alone for want of a server; jobs wait while the server imports for a script's first job (one import
    of each module, not one per job on the same cores)."""
    import atexit
    import subprocess
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ablate-fork-"))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(folder / "socket"))
    listener.listen(64)
    env = {**os.environ, **dict.fromkeys(THREAD_VARS, "1")}
    # -c and not -m: the modules keep their names (a script's `delegate` is this module's, in the children too)
    command = [sys.executable, "-c", "from ablate.execution.forkhost import main; main()"]
    command += [str(folder / "socket"), str(os.getpid()), str(scripts), str(listener.fileno())]
    with listener:  # the server's copy is the one that accepts
        process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(listener.fileno(),),
        )
    server = Server(process, folder)
    _started.append(server)
    atexit.register(server.stop)
    os.environ[ENV] = server.socket
    return server


_started: list[Server] = []


def stop() -> None:
    """Stop the fork servers this process started."""
    while _started:
        _started.pop().stop()
