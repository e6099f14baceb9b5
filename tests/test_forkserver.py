"""The fork server (ablate.execution.forkserver): an entry script run in a child of it ends, prints and computes
exactly as when it runs alone; signals reach the child, and a killed client leaves none behind."""

from __future__ import annotations

import ast
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from test_train import TRAIN_SCRIPT, run_config

from ablate.execution import forkserver
from ablate.plan.runs import canonical_json

from conftest import REPO, tool_env

# an entry script: where it ran goes to the file $WHERE, so that its output is the same wherever it runs
SCRIPT = textwrap.dedent(
    '''
    """A tiny entry script."""

    from ablate.execution.forkserver import delegate

    delegate(__file__)

    import json
    import os
    import sys
    import time

    with open(os.environ["WHERE"], "w") as where:
        loaded = {"torch": "torch" in sys.modules}  # what the server held when it forked this child
        json.dump({"pid": os.getpid(), "ppid": os.getppid(), "umask": os.umask(0o022), **loaded}, where)
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": os.environ.get("TINY"), "path0": sys.path[0]}))
    print("to stderr", file=sys.stderr)
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "raise":
        raise ValueError("boom")
    if what == "exit":
        sys.exit(int(sys.argv[2]))
    if what == "message":
        sys.exit("a message")
    if what == "sleep":
        print("sleeping", flush=True)
        time.sleep(120)
    '''
)


def wait_for(condition, seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def running(server: forkserver.Server) -> forkserver.Server:
    """`server`, once it listens."""
    wait_for(lambda: os.path.exists(server.socket) or server.process.poll() is not None, what="the server")
    assert server.process.poll() is None, "the server ended"
    return server


def children_of(pid: int) -> list[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether `pid` is a process that has not ended (a zombie has ended)."""
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("scripts")
    (folder / "tiny.py").write_text(SCRIPT)
    return folder


@pytest.fixture(scope="module")
def server(scripts) -> Iterator[forkserver.Server]:
    started = running(forkserver.start(scripts))
    yield started
    forkserver.stop()
    assert not started.folder.exists() and forkserver.ENV not in os.environ


def run(scripts: Path, tmp_path: Path, *args: str, server: bool = True, script: str = "tiny.py", **env) -> tuple:
    """The tiny script's exit status, stdout and stderr (to files, as a job's log redirections), where it ran."""
    environment = {**tool_env(), "TINY": "yes", "WHERE": str(tmp_path / "where.json"), **env}
    if not server:
        environment.pop(forkserver.ENV)
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        command = [sys.executable, str(scripts / script), *args]
        status = subprocess.run(command, cwd=tmp_path, env=environment, stdout=stdout, stderr=stderr, timeout=60)
    return status.returncode, out.read_text(), err.read_text(), json.loads((tmp_path / "where.json").read_text())


@pytest.mark.parametrize("args", [(), ("an arg", "two"), ("raise",), ("exit", "3"), ("exit", "300"), ("message",)])
def test_a_script_ends_and_prints_as_it_does_alone(server, scripts, tmp_path, args):
    served = run(scripts, tmp_path, *args)
    alone = run(scripts, tmp_path, *args, server=False)
    assert served[3]["ppid"] == server.process.pid and alone[3]["ppid"] == os.getpid()
    assert served[:3] == alone[:3]  # exit status, stdout, stderr (a traceback from the script's frame on)
    assert served[3]["umask"] == alone[3]["umask"]
    output = json.loads(served[1])
    assert output["argv"] == [str(scripts / "tiny.py"), *args] and output["cwd"] == str(tmp_path)
    assert output["env"] == "yes" and output["path0"] == str(scripts)


def test_a_client_that_would_import_other_code_runs_the_script_itself(server, scripts, tmp_path):
    status, _, _, where = run(scripts, tmp_path, PYTHONHASHSEED="7")
    assert status == 0 and where["ppid"] == os.getpid()


def test_without_a_server_the_script_runs_alone(scripts, tmp_path):
    status, _, _, where = run(scripts, tmp_path, **{forkserver.ENV: str(tmp_path / "no-socket")})
    assert status == 0 and where["ppid"] == os.getpid()


def test_a_broken_request_leaves_the_server_serving(server, scripts, tmp_path):
    for junk in (b"", b"\x00\x00\x00\x05nope", b"not even a header"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(server.socket)
            client.sendall(junk)
    status, _, _, where = run(scripts, tmp_path)
    assert status == 0 and where["ppid"] == server.process.pid


def sleeping(scripts: Path, tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """A client whose child sleeps, and the child's pid."""
    env = {**tool_env(), "WHERE": str(tmp_path / "where.json")}
    client = subprocess.Popen(
        [sys.executable, str(scripts / "tiny.py"), "sleep"], env=env, stdout=subprocess.PIPE, text=True
    )
    assert client.stdout.readline() and client.stdout.readline() == "sleeping\n"
    return client, json.loads((tmp_path / "where.json").read_text())["pid"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_to_the_client_reaches_the_child(server, scripts, tmp_path, sig):
    client, child = sleeping(scripts, tmp_path)
    assert child in children_of(server.process.pid)
    client.send_signal(sig)
    assert client.wait(timeout=30) == -sig  # as Python ends by it (SIGINT: after KeyboardInterrupt's traceback)
    wait_for(lambda: not alive(child), 10, "the child to end")


def test_a_child_killed_kills_its_client_the_same_way(server, scripts, tmp_path):
    client, child = sleeping(scripts, tmp_path)
    os.kill(child, signal.SIGKILL)  # as the kernel's OOM killer ends a job
    assert client.wait(timeout=30) == -signal.SIGKILL


def test_a_client_killed_leaves_no_child(server, scripts, tmp_path):
    client, child = sleeping(scripts, tmp_path)
    client.kill()
    client.wait(timeout=30)
    wait_for(lambda: not alive(child), 10, "the child to end")
    wait_for(lambda: child not in children_of(server.process.pid), 10, "the server to reap the child")


def test_the_server_imports_what_a_script_needs_at_its_first_job_and_keeps_it(tmp_path):
    """A job started as the server starts is served; the server imports a script's imports before its first job
    (torch for heavy.py) and not before (tiny.py's job finds no torch), and keeps them for every later job."""
    folder = tmp_path / "scripts"
    folder.mkdir()
    (folder / "tiny.py").write_text(SCRIPT)
    (folder / "heavy.py").write_text(SCRIPT.replace("import json\n", "import json\n\nimport torch\n", 1))
    server = forkserver.start(folder)
    try:
        status, _, _, where = run(folder, tmp_path)  # at once
        assert status == 0 and where["ppid"] == server.process.pid and not where["torch"]
        status, _, _, where = run(folder, tmp_path, script="heavy.py")
        assert status == 0 and where["ppid"] == server.process.pid and where["torch"]
        status, _, _, where = run(folder, tmp_path)
        assert status == 0 and where["torch"]  # the server holds torch now
    finally:
        forkserver.stop()


def test_a_train_jobs_first_request_loads_what_the_job_imports_later_too():
    """The trainer (imported when the job trains) and torch._dynamo (at an optimizer's first step): the server
    holds both after a train script's first request, so that no later child imports them (~1 s of every job)."""
    code = "from pathlib import Path; from ablate.execution import forkhost; import sys; "
    code += "forkhost.load_for(Path(sys.argv[1])); print(sorted(set(sys.argv[2:]) & set(sys.modules)))"
    late = ["ablate.training.trainer", "torch._dynamo"]
    loaded = subprocess.run(
        [sys.executable, "-c", code, str(REPO / "workflow/scripts/train.py"), *late],
        env=tool_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded.strip() == str(late)


def test_a_script_outside_the_servers_folder_runs_alone(server, scripts, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere/tiny.py").write_text(SCRIPT)
    status, _, _, where = run(tmp_path / "elsewhere", tmp_path)
    assert status == 0 and where["ppid"] != server.process.pid


def test_the_server_ends_with_the_process_that_started_it(scripts, tmp_path):
    code = f"from ablate.execution import forkserver; print(forkserver.start({str(scripts)!r}).process.pid, flush=True)"
    code += "; import time; time.sleep(120)"
    parent = subprocess.Popen([sys.executable, "-c", code], env=tool_env(), stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    wait_for(lambda: children_of(pid) == [] and alive(pid), what="the server")  # it is up
    parent.kill()
    parent.wait(timeout=30)
    wait_for(lambda: not alive(pid), 10, "the server to end")


TIMES = re.compile(r"[0-9.]+ (s|img/s)\b|[0-9.]+s ETA \S+")  # what a log line says of time


@pytest.mark.slow
def test_a_train_job_in_the_server_gives_the_same_run(tmp_path):
    """The train rule's script on a small run, alone and in a child of a server of the real entry scripts: the same
    log and metrics (but their times), history (but its timings) and weights, byte for byte; the server forks with
    one thread."""
    config = run_config(epochs=2, augment=True, dropout=0.3, model="resnet18", width=0.125)
    (tmp_path / "run.json").write_text(canonical_json(config))
    server = running(forkserver.start(REPO / "workflow/scripts"))
    try:
        assert len(os.listdir(f"/proc/{server.process.pid}/task")) == 1  # no thread pool when it forks
        served = {}
        for name in ("alone", "served"):
            env = tool_env()
            if name == "alone":
                env.pop(forkserver.ENV)
            (tmp_path / name).mkdir()
            command = [*TRAIN_SCRIPT, "--run-config", "../run.json", "--run-dir", "run", "--threads", "2"]
            with open(tmp_path / name / "stderr", "w") as err:  # the rule's `--log {log} 2>> {log}`, apart
                job = subprocess.Popen([*command, "--log", "log"], cwd=tmp_path / name, env=env, stderr=err)
                served[name] = False
                while job.poll() is None:
                    served[name] = served[name] or bool(children_of(server.process.pid))
                    time.sleep(0.05)
            assert job.returncode == 0, (tmp_path / name / "stderr").read_text()
        assert served == {"alone": False, "served": True}

        def same(path: str, timings: tuple[str, ...] = ()) -> None:
            texts = [(tmp_path / name / path).read_text() for name in ("alone", "served")]
            if path.endswith(".json"):
                texts = [{k: v for k, v in json.loads(t).items() if k not in timings} for t in texts]
            elif path.endswith(".csv"):
                texts = [pd.read_csv(io.StringIO(t)).drop(columns=list(timings)).to_csv() for t in texts]
            else:
                texts = [TIMES.sub("", t) for t in texts]
            assert texts[0] == texts[1], path

        same("log")
        same("stderr")  # its `work:` line, but the time
        same("run/history.csv", ("epoch_seconds", "images_per_second"))
        same("run/metrics.json", ("wall_seconds", "seconds_per_epoch", "images_per_second"))
        assert (tmp_path / "alone/run/model.pt").read_bytes() == (tmp_path / "served/run/model.pt").read_bytes()
        assert json.loads((tmp_path / "served/run/metrics.json").read_text())["threads"] == 2
        assert (tmp_path / "served/stderr").read_text().startswith("work: ")
    finally:
        forkserver.stop()
    assert not server.folder.exists()


def test_every_entry_script_hands_its_job_to_the_server_first():
    """Each rule's entry script delegates before its other imports, or its job pays torch's import alone."""
    for script in sorted((REPO / "workflow/scripts").glob("*.py")):
        statements = ast.parse(script.read_text()).body
        first = next(
            i
            for i, node in enumerate(statements)
            if isinstance(node, ast.Import | ast.ImportFrom)
            and getattr(node, "module", None) != "ablate.execution.forkserver"
        )
        assert "delegate(__file__)" in [ast.unparse(node) for node in statements[:first]], script.name
