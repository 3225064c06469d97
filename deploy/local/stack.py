"""The whole Sangathan network on one machine, without Docker.

    stack.py up [--infra]    install what is missing, start everything, load demo data, supervise it
    stack.py down            stop the supervisor and what `up` started (by pid, nothing else)
    stack.py status          what runs, with pids, ports and restarts
    stack.py restart NAME... stop and start a service or a server (kafka, redis, ferretdb)
    stack.py test -- ARGS    start what is not running, run pytest ARGS, stop what it started

`up` leaves a small supervisor process behind (`stack.py supervise`): a process `up` started
that dies is started again, after 1 s, then 2, 4, ... up to a minute if it keeps dying, and each
restart is logged (.state/logs/supervisor.log) and counted (`status`).

Everything lives under the git-ignored state folder (`.state/`, or $SANGATHAN_STATE):
server data, logs, pid files, the Kafka jars from Maven Central and the FerretDB binary
built from the Go module proxy. Every server binds to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("SANGATHAN_STATE", ROOT / ".state")).resolve()
RUN, LOGS, BIN = STATE / "run", STATE / "logs", STATE / "bin"
PYTHON = sys.executable

KAFKA_PORT, KAFKA_CONTROLLER_PORT, REDIS_PORT, MONGO_PORT = 9092, 9093, 6390, 27017
SERVICE_PORTS = {
    "appointments": 8001,
    "otp": 8002,
    "notifier": 8003,
    "analytics": 8004,
    "dashboard": 8006,
    "meetings": 8007,
    "reports": 8008,
}
SIMULATOR_PORT = 8005
PROMETHEUS_PORT = 9090
# The services default to production; the local platform, and the tests run on it, are a
# developer's: development (local keys, the OTP sink, plain-HTTP cookies) is said here, explicitly.
LOCAL_ENV = {"SANGATHAN_ENV": os.environ.get("SANGATHAN_ENV", "development")}
# How the platform's services find each other locally (beyond their defaults).
SERVICE_ENV = {
    "otp": {"OTP_DELIVERY": "notifier"},  # codes go through the notifier's urgent lane
    "notifier": {"PROVIDER_BATCH": "100"},  # the provider simulator takes batch requests
    # A developer's (and the e2e tests') reports fall due in a minute and are followed up at once.
    "reports": {"REPORTS_MIN_DUE_AFTER_S": "60", "REPORTS_FOLLOWUPS_INTERVAL_S": "2"},
}


def say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


class StartFailed(Exception):
    """A component did not come up; the message says where to look."""


def run(cmd: list[str], **kw) -> None:
    if not shutil.which(cmd[0]):
        sys.exit(
            f"[stack] `{cmd[0]}` is not installed; this machine needs Java 17, Maven and Go "
            f"(see the README)"
        )
    subprocess.run(cmd, check=True, **kw)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


# ---------------------------------------------------------------- installs (first run only)


def apt_install(package: str, command: str) -> None:
    """Install a Debian package unless its command (or file, given as an absolute path) is there."""
    if shutil.which(command) or (command.startswith("/") and Path(command).exists()):
        return
    say(f"installing Debian's {package} (first run)")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(sudo + ["apt-get", "update", "-qq"], env=env)
    run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package], env=env)


def kafka_libs() -> Path:
    libs = STATE / "kafka" / "libs"
    if not (libs / ".complete").exists():
        say("fetching the Kafka broker's jars from Maven Central (first run)")
        shutil.rmtree(libs, ignore_errors=True)
        run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(ROOT / "deploy/local/kafka/pom.xml"),
                "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies",
                f"-DoutputDirectory={libs}",
                "-DincludeScope=runtime",
            ]
        )
        (libs / ".complete").touch()
    return libs


FERRETDB_MODULE = "github.com/FerretDB/FerretDB@v1.24.0"


def ferretdb_binary() -> Path:
    binary = BIN / "ferretdb"
    src = ROOT / "deploy/local/ferretdb"
    # Rebuilt when our sources or patches change: compared by content, since a checkout or a
    # copied state folder leaves file times that say nothing about which came first.
    sources = hashlib.sha256(
        b"".join(f.name.encode() + f.read_bytes() for f in sorted(src.iterdir()))
    ).hexdigest()
    stamp = BIN / "ferretdb.sources"
    if not binary.exists() or not stamp.exists() or stamp.read_text() != sources:
        say("building FerretDB v1.24 from the Go module proxy (first run, ~2 min)")
        BIN.mkdir(parents=True, exist_ok=True)
        workspace = patched_ferretdb_workspace(src)
        run(
            ["go", "build", "-o", str(binary), "."],
            cwd=src,
            env=dict(os.environ, GOWORK=str(workspace)),
        )
        stamp.write_text(sources)
    return binary


def patched_ferretdb_workspace(src: Path) -> Path:
    """A Go workspace building our command against FerretDB's source with our patches applied.

    The patches (deploy/local/ferretdb/*.patch, applied in name order) make single-document
    writes atomic, let a filter on `_id` plus other fields use the `_id` index, and let a bulk
    write hold more updates than SQLite has pooled connections, and a delete_many take more
    documents than SQLite binds in one statement; a filter `_id: {$in: [...]}` reads by the `_id`
    index, and an update of many documents writes them in one SQLite transaction (one WAL sync,
    not one each); the WAL is checkpointed once a second in the background, not in a commit, and
    the release build tracks no cursors for leaks.
    """
    patches = sorted(src.glob("*.patch"))
    build = STATE / "build"
    source = build / "ferretdb-v1.24.0"
    stamp = source / ".sangathan-patches"
    digest = "\n".join(f"{p.name} {p.stat().st_size} {p.stat().st_mtime_ns}" for p in patches)
    if not (stamp.exists() and stamp.read_text() == digest):
        apt_install("patch", "patch")
        module = json.loads(
            subprocess.check_output(["go", "mod", "download", "-json", FERRETDB_MODULE], cwd=src)
        )
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(module["Dir"], source)
        for path in source.rglob("*"):  # the module cache is read-only
            path.chmod(path.stat().st_mode | 0o200)
        for patch in patches:
            run(["patch", "-p1", "-s", "-d", str(source), "-i", str(patch)])
        stamp.write_text(digest)
    workspace = build / "go.work"
    workspace.write_text(f"go 1.22\n\nuse (\n\t{src}\n\t{source}\n)\n")
    return workspace


# ---------------------------------------------------------------- processes


@dataclass
class Component:
    name: str
    port: int
    command: Callable[[], list[str]]
    ready: Callable[[], bool]
    prepare: Callable[[], None] = lambda: None
    env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 90

    @property
    def pidfile(self) -> Path:
        return RUN / f"{self.name}.pid"

    def pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text())
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def start(self) -> bool:
        """Start unless already running; True if this call started it."""
        if self.pid():
            return False
        if port_open(self.port):
            raise StartFailed(
                f"port {self.port} for {self.name} is taken by a process "
                f"this platform did not start; stop it or free the port"
            )
        self.prepare()
        LOGS.mkdir(parents=True, exist_ok=True)
        RUN.mkdir(parents=True, exist_ok=True)
        log = open(LOGS / f"{self.name}.log", "ab")
        env = dict(os.environ, PYTHONPATH=str(ROOT), **self.env)
        proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )  # own process group: `down` stops its children too
        log.close()  # the child has its own copy
        self.pidfile.write_text(str(proc.pid))
        deadline = time.monotonic() + self.start_timeout
        while not self.ready():
            if proc.poll() is not None:
                self.pidfile.unlink(missing_ok=True)
                raise StartFailed(f"{self.name} exited during start; see {LOGS / self.name}.log")
            if time.monotonic() > deadline:
                self.stop()
                raise StartFailed(
                    f"{self.name} not ready after {self.start_timeout:.0f}s; "
                    f"see {LOGS / self.name}.log"
                )
            time.sleep(0.3)
        say(f"{self.name} up on 127.0.0.1:{self.port} (pid {proc.pid})")
        return True

    def crashed(self) -> bool:
        """Started (its pid file is there: `stop` removes it) but no longer running."""
        return self.pidfile.exists() and self.pid() is None

    def kill(self) -> None:
        """SIGKILL the whole process group, as a crash would; the pid file stays (fault tests).
        Held first, so the supervisor leaves the restart to whoever killed it (`start_again`)."""
        self.hold_restarts()
        pid = self.pid()
        if pid:
            os.killpg(pid, signal.SIGKILL)
            wait_gone(pid, 10)

    @property
    def hold(self) -> Path:
        """While this file exists the supervisor does not restart the component."""
        return RUN / f"{self.name}.hold"

    def hold_restarts(self) -> None:
        RUN.mkdir(parents=True, exist_ok=True)
        self.hold.touch()

    def start_again(self) -> None:
        """Start a killed component and hand it back to the supervisor."""
        try:
            self.start()
        finally:
            self.hold.unlink(missing_ok=True)

    def stop(self) -> None:
        pid = self.pid()
        self.pidfile.unlink(missing_ok=True)
        if not pid:
            return
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        if not wait_gone(pid, 20):
            os.killpg(pid, signal.SIGKILL)
        say(f"{self.name} stopped (pid {pid})")


def alive(pid: int) -> bool:
    """Running, and not a zombie: a killed child of another process (`stack.py test` started the
    servers the fault tests kill) stays in the process table until its parent reaps it."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait for a process to end; True if it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # Reap it if it is our own child
        # (`test` starts and stops in one process, so does the supervisor).
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def redis_component() -> Component:
    data = STATE / "redis"

    def command() -> list[str]:
        data.mkdir(parents=True, exist_ok=True)
        return [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(REDIS_PORT),
            "--dir",
            str(data),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--protected-mode",
            "yes",
        ]

    def ready() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", REDIS_PORT), timeout=1) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    return Component(
        "redis",
        REDIS_PORT,
        command,
        ready,
        prepare=lambda: apt_install("redis-server", "redis-server"),
    )


def ferretdb_component() -> Component:
    data = STATE / "ferretdb"

    def command() -> list[str]:
        data.mkdir(parents=True, exist_ok=True)
        return [
            str(ferretdb_binary()),
            "-listen-addr",
            f"127.0.0.1:{MONGO_PORT}",
            "-sqlite-url",
            # synchronous(normal): a commit reaches the WAL without an fsync of its own (the
            # checkpoint syncs). A crashed FerretDB loses nothing; a crashed machine may lose
            # the last commits, as MongoDB's default journal (100 ms commit interval) may.
            f"file:{data}/?_pragma=synchronous(normal)",
            # FERRETDB_DEBUG_ADDR=127.0.0.1:8088 serves Go's pprof there, to profile the server
            *(
                ["-debug-addr", os.environ["FERRETDB_DEBUG_ADDR"]]
                if "FERRETDB_DEBUG_ADDR" in os.environ
                else []
            ),
        ]

    return Component(
        "ferretdb",
        MONGO_PORT,
        command,
        lambda: port_open(MONGO_PORT),
        prepare=ferretdb_binary,
        # Go collects garbage when the heap doubles; FerretDB allocates per document it decodes,
        # so at 4x it spent a fifth less CPU per webhook (bench/meetings_webhooks.py), with the
        # heap held under 2 GiB all the same.
        env={"GOGC": "400", "GOMEMLIMIT": "2GiB"},
    )


def kafka_component(
    name: str = "kafka",
    port: int = KAFKA_PORT,
    controller: int = KAFKA_CONTROLLER_PORT,
    home: Path = STATE / "kafka",
    heap: str = "1g",
) -> Component:
    """A one-node KRaft broker; tests start a second one (own name, ports, folder)
    to stop at will."""
    data, config = home / "data", home / "server.properties"

    def prepare() -> None:
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(KAFKA_CONFIG.format(data=data, port=port, controller=controller))
        if not (data / "meta.properties").exists():
            say(f"formatting {name}'s KRaft storage")
            run(
                java(kafka_libs(), "kafka.tools.StorageTool")
                + ["format", "-t", cluster_id(), "-c", str(config), "--ignore-formatted"],
                stdout=subprocess.DEVNULL,
            )

    def command() -> list[str]:
        return java(kafka_libs(), "kafka.Kafka", heap=heap) + [str(config)]

    # A broker restarted after a crash recovers its logs first: minutes on a busy machine.
    return Component(
        name, port, command, lambda: kafka_ready(port), prepare=prepare, start_timeout=300
    )


def java(libs: Path, main: str, heap: str = "256m") -> list[str]:
    return [
        "java",
        f"-Xms{heap}",
        f"-Xmx{heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j.configuration=file:{ROOT / 'deploy/local/kafka/log4j.properties'}",
        "-cp",
        f"{libs}/*",
        main,
    ]


def cluster_id() -> str:
    """A KRaft cluster id: a UUID in URL-safe base64, as `kafka-storage random-uuid` prints. Never
    one starting with "-" (Kafka's own Uuid.randomUuid skips those too): `format -t -abc` reads
    it as an option and the broker never starts (1 start in 64)."""
    while (made := base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode())[0] == "-":
        pass
    return made


def kafka_ready(port: int = KAFKA_PORT) -> bool:
    if not port_open(port):
        return False
    from confluent_kafka.admin import AdminClient

    try:
        AdminClient({"bootstrap.servers": f"127.0.0.1:{port}"}).list_topics(timeout=2)
        return True
    except Exception:
        return False


# KRaft, broker and controller in one process; replication 1 because there is one node.
KAFKA_CONFIG = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={data}
num.partitions=12
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
"""


GRACEFUL_SHUTDOWN_S = "5"  # the same in deploy/k8s/base's uvicorn commands


def service_command(name: str, port: int, data_dir: Path) -> tuple[list[str], dict[str, str]]:
    """How a service is started, here and by the tests: command line and extra environment."""
    if name == "analytics":
        return (
            [PYTHON, "-m", "analytics.app", "worker", "--loglevel", "info"],
            {"ANALYTICS_WEB_PORT": str(port), "ANALYTICS_DATA_DIR": str(data_dir)},
        )
    command = [
        PYTHON,
        "-m",
        "uvicorn",
        f"{name}.api:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        # An open live stream (SSE) keeps a connection busy until its client goes, and uvicorn
        # waits for every connection before it exits: past this, a stopping service ends them
        # (browsers reconnect to another replica) instead of waiting for the kill.
        "--timeout-graceful-shutdown",
        GRACEFUL_SHUTDOWN_S,
    ]
    workers = int(os.environ.get("OTP_WORKERS", "1")) if name == "otp" else 1
    if workers == 1:
        return command, {}
    # Worker processes share the port, so each writes its metrics to files in this folder and
    # /metrics sums them (prometheus_client's multiprocess mode); `up` empties it first.
    metrics = data_dir.parent / f"{name}-metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    return command + ["--workers", str(workers)], {"PROMETHEUS_MULTIPROC_DIR": str(metrics)}


def service_component(name: str) -> Component:
    port = SERVICE_PORTS[name]
    command, env = service_command(name, port, STATE / "analytics")
    metrics = env.get("PROMETHEUS_MULTIPROC_DIR")
    return Component(
        name,
        port,
        lambda: command,
        lambda: http_ok(f"http://127.0.0.1:{port}/readyz"),
        env={**LOCAL_ENV, **env, **SERVICE_ENV.get(name, {})},
        prepare=lambda: metrics and [p.unlink() for p in Path(metrics).glob("*.db")],
        start_timeout=120,
    )


def simulator_component() -> Component:
    """The local messaging-provider simulator the notifier sends to
    (WhatsApp, SMS, push, bridge)."""
    command = [
        PYTHON,
        "-m",
        "uvicorn",
        "simulator.api:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(SIMULATOR_PORT),
        "--no-access-log",
    ]
    callback = f"http://127.0.0.1:{SERVICE_PORTS['notifier']}/v1/webhooks/provider"
    return Component(
        "simulator",
        SIMULATOR_PORT,
        lambda: command,
        lambda: http_ok(f"http://127.0.0.1:{SIMULATOR_PORT}/readyz"),
        env={**LOCAL_ENV, "SIMULATOR_CALLBACK_URL": callback},
    )


def prometheus_component() -> Component:
    """Debian's Prometheus scraping the services
    (deploy/prometheus: scrape config and alert rules)."""
    data = STATE / "prometheus"

    def command() -> list[str]:
        data.mkdir(parents=True, exist_ok=True)
        return [
            "prometheus",
            f"--config.file={ROOT / 'deploy/prometheus/prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=7d",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
            "--web.enable-lifecycle",
        ]  # `curl -XPOST 127.0.0.1:9090/-/reload` picks up edited rules

    return Component(
        "prometheus",
        PROMETHEUS_PORT,
        command,
        lambda: http_ok(f"http://127.0.0.1:{PROMETHEUS_PORT}/-/ready"),
        prepare=lambda: apt_install("prometheus", "prometheus"),
    )


def infrastructure() -> list[Component]:
    return [redis_component(), ferretdb_component(), kafka_component()]


def services() -> list[Component]:
    return (
        [simulator_component()]
        + [service_component(n) for n in SERVICE_PORTS]
        + [prometheus_component()]
    )


def all_components() -> list[Component]:
    return infrastructure() + services()


# ---------------------------------------------------------------- supervision

SUPERVISOR_PID = RUN / "supervisor.pid"
SUPERVISE_EVERY_S, FIRST_BACKOFF_S, MAX_BACKOFF_S = 1.0, 1.0, 60.0
STABLE_AFTER_S = 60.0  # up this long after a restart: the next crash starts the backoff afresh


def supervisor_pid() -> int | None:
    try:
        pid = int(SUPERVISOR_PID.read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def start_supervisor() -> None:
    if supervisor_pid():
        return
    LOGS.mkdir(parents=True, exist_ok=True)
    with open(LOGS / "supervisor.log", "ab") as log:
        proc = subprocess.Popen(
            [PYTHON, str(Path(__file__).resolve()), "supervise"],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            start_new_session=True,
        )
    SUPERVISOR_PID.write_text(str(proc.pid))
    say(f"supervisor watching what runs (pid {proc.pid}; restarts in {LOGS / 'supervisor.log'})")


def stop_supervisor() -> None:
    """First in `down`, so nothing is restarted while it stops."""
    pid = supervisor_pid()
    SUPERVISOR_PID.unlink(missing_ok=True)
    if pid:
        os.kill(pid, signal.SIGTERM)
        if not wait_gone(pid, 10):
            os.kill(pid, signal.SIGKILL)
        say(f"supervisor stopped (pid {pid})")


def restarts_file(c: Component) -> Path:
    return RUN / f"{c.name}.restarts"


def restart_record(c: Component) -> dict:
    try:
        return json.loads(restarts_file(c).read_text())
    except (OSError, ValueError):
        return {"count": 0}


def backoff_s(failures: int) -> float:
    """1 s after the first crash, doubling with each crash in a row, at most a minute."""
    return min(FIRST_BACKOFF_S * 2 ** max(failures - 1, 0), MAX_BACKOFF_S)


def supervise() -> int:
    """Restart what `up` started and then died, with backoff, until SIGTERM (`down`)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    say(f"supervisor started (pid {os.getpid()})")
    crashes: dict[str, int] = {}  # crashes in a row, per component
    retry_at: dict[str, float] = {}  # when to start a crashed component again
    restarted_at: dict[str, float] = {}
    failing: set[str] = set()  # a restart that did not come up (its pid file is gone)
    while True:
        reap_children()
        now = time.monotonic()
        for c in all_components():
            if c.hold.exists() or not (c.crashed() or c.name in failing):
                retry_at.pop(c.name, None)  # running, stopped on purpose, or held by a fault test
                if now - restarted_at.get(c.name, now) > STABLE_AFTER_S:
                    crashes.pop(c.name, None)
                continue
            if c.name not in retry_at:
                crashes[c.name] = crashes.get(c.name, 0) + 1
                retry_at[c.name] = now + backoff_s(crashes[c.name])
                say(
                    f"{c.name} is not running (crash {crashes[c.name]} in a row); "
                    f"restarting in {backoff_s(crashes[c.name]):.0f}s"
                )
            elif now >= retry_at[c.name]:  # not before: a pop here forgot the wait, counted
                del retry_at[c.name]  # the crash again and never restarted a second crash
                if restart_crashed(c):
                    failing.discard(c.name)
                    restarted_at[c.name] = time.monotonic()
                else:
                    failing.add(c.name)
        time.sleep(SUPERVISE_EVERY_S)


def restart_crashed(c: Component) -> bool:
    count = restart_record(c)["count"] + 1
    record = {"count": count, "last": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    try:
        c.start()
        record["outcome"] = f"restarted as pid {c.pid()}"
    except StartFailed as exc:
        record["outcome"] = f"failed to restart: {exc}"
    restarts_file(c).write_text(json.dumps(record))
    say(f"{c.name}: {record['outcome']} (restart {count})")
    return c.pid() is not None


def reap_children() -> None:
    """Collect the exit status of processes this supervisor restarted, so a dead one is gone."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# ---------------------------------------------------------------- commands


def create_topics_and_demo_data() -> None:
    sys.path.insert(0, str(ROOT))
    from shared.topics import ensure_topics

    created = ensure_topics(f"127.0.0.1:{KAFKA_PORT}")
    if created:
        say(f"created topics: {', '.join(created)}")
    say("loading demo org tree (Himachal Pradesh) if not loaded yet")
    run(
        [PYTHON, "-m", "shared.orgtree.load", "--state", "HP"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    say("giving some Himachal mandals a verified president (demo) if they have none")
    run(
        [PYTHON, "-m", "appointments.demo", "--state", "HP"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT), **LOCAL_ENV),
    )


def prepare_local_auth() -> None:
    """The local token issuer's keys (made once) and fresh tokens the services call each
    other with."""
    run(
        [PYTHON, "-m", "shared.auth.issuer", "services"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )


def up(infra_only: bool = False) -> list[Component]:
    started = [c for c in infrastructure() if c.start()]
    if not infra_only:
        prepare_local_auth()
        create_topics_and_demo_data()
        started += [c for c in services() if c.start()]
    print_where_to_look(infra_only)
    return started


def down(components: list[Component] | None = None) -> None:
    if components is None:
        stop_supervisor()
    for c in reversed(components if components is not None else all_components()):
        c.stop()
        c.hold.unlink(missing_ok=True)
        restarts_file(c).unlink(missing_ok=True)


def status() -> int:
    for c in all_components():
        pid = c.pid()
        state = f"running (pid {pid})" if pid else "crashed" if c.crashed() else "stopped"
        record = restart_record(c)
        if record["count"]:
            state += f", restarted {record['count']}x (last {record['last']}: {record['outcome']})"
        print(f"  {c.name:<13} 127.0.0.1:{c.port:<6} {state}")
    pid = supervisor_pid()
    print(
        f"  supervisor    {f'running (pid {pid})' if pid else 'not running'}"
        f"  log {LOGS / 'supervisor.log'}"
    )
    print(f"  state folder: {STATE}")
    return 0


def print_where_to_look(infra_only: bool) -> None:
    print("\nSangathan is up. Where to look:")
    print(f"  Kafka      127.0.0.1:{KAFKA_PORT}   (KRaft, topics from shared/topics.py)")
    print(f"  Redis      redis://127.0.0.1:{REDIS_PORT}/0")
    print(f"  MongoDB    mongodb://127.0.0.1:{MONGO_PORT}/  (FerretDB on SQLite)")
    if not infra_only:
        for name, port in SERVICE_PORTS.items():
            docs = "" if name == "analytics" else f"  docs http://127.0.0.1:{port}/docs"
            print(f"  {name:<12} http://127.0.0.1:{port}/readyz  metrics /metrics{docs}")
        print(
            f"  simulator    http://127.0.0.1:{SIMULATOR_PORT}/readyz"
            "  (messaging provider stand-in)"
        )
        print(f"  org registry  http://127.0.0.1:{SERVICE_PORTS['appointments']}/units/IN-HP")
        print(
            f"  prometheus   http://127.0.0.1:{PROMETHEUS_PORT}/targets"
            "  (alerts /alerts; Grafana dashboards: deploy/grafana)"
        )
        print(
            f"  HQ dashboard  http://127.0.0.1:{SERVICE_PORTS['dashboard']}/"
            "  (sign in with the token `make -s token UNIT=IN` prints)"
        )
    print(f"  logs       {LOGS}/")
    print("Stop everything with: make down\n")


def restart(names: list[str]) -> int:
    """Stop and start services or servers; held meanwhile, so the supervisor does not race."""
    known = [c.name for c in all_components()]
    unknown = set(names) - set(known)
    if unknown:
        say(f"no such component: {', '.join(sorted(unknown))}; components: {', '.join(known)}")
        return 2
    for c in all_components():
        if c.name in names:
            c.hold_restarts()
            c.stop()
            c.start_again()
    return 0


def test_tools() -> None:
    """Debian programs the tests drive themselves (first run only)."""
    apt_install("chromium", "chromium")  # the dashboard's browser test drives Debian's chromium
    # Devanagari glyphs, so the Hindi labels in its screenshots are text, not boxes.
    apt_install("fonts-lohit-deva", "/usr/share/fonts/truetype/lohit-devanagari")
    apt_install("prometheus", "promtool")  # the alert rules' unit tests run promtool


def test(pytest_args: list[str]) -> int:
    test_tools()
    started = up()
    try:
        return subprocess.call(
            [PYTHON, "-m", "pytest", *pytest_args], cwd=ROOT, env=dict(os.environ, **LOCAL_ENV)
        )
    finally:
        if started:
            say("stopping what the test run started")
            down(started)


def bench() -> int:
    """Run every benchmark script with the platform up; stop only what this started."""
    started = up()
    failed = 0
    try:
        for script in sorted((ROOT / "bench").glob("*_bench.py")):
            say(f"benchmark: {script.name}")
            failed |= (
                subprocess.call([PYTHON, str(script)], cwd=ROOT, env=dict(os.environ, **LOCAL_ENV))
                != 0
            )
        return int(failed)
    finally:
        if started:
            say("stopping what the benchmark run started")
            down(started)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if sys.argv[1:2] == ["restart"]:  # restart NAME...: pick up a service's changed code
        return restart(sys.argv[2:])
    parser.add_argument(
        "command",
        choices=["up", "down", "status", "test", "tools", "bench", "restart", "supervise"],
    )
    parser.add_argument("--infra", action="store_true", help="only Kafka, Redis and FerretDB")
    args, pytest_args = parser.parse_known_args()
    if args.command == "up":
        up(args.infra)
        start_supervisor()
    elif args.command == "supervise":
        return supervise()
    elif args.command == "down":
        down()
    elif args.command == "status":
        return status()
    elif args.command == "tools":
        test_tools()
    elif args.command == "bench":
        return bench()
    elif args.command == "test":
        return test([a for a in pytest_args if a != "--"] or ["tests"])
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except StartFailed as exc:
        sys.exit(f"[stack] {exc}")
