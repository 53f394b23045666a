"""Start the regional topology on one machine from Debian's packages: ``--apps`` processes of
``telemed serve`` on one PostgreSQL, nginx in front with TLS (deploy/nginx/telemed.conf.template,
the same file compose.yaml's nginx uses) and coturn with time-limited credentials
(deploy/coturn/turnserver.conf). The cluster tests start it with ``start()``, so the shape that
is shipped is the shape that is tested.

    python deploy/debian.py --dir /var/tmp/telemed-cluster [--database-url postgresql://…]

runs until interrupted, printing the address. Needs Debian's nginx, coturn, openssl and
postgresql. Without ``--database-url`` it runs a PostgreSQL server of its own in ``<dir>/postgres``
(durable settings; kept between runs).
"""

from __future__ import annotations

import argparse
import glob
import os
import secrets
import shutil
import signal
import socket
import ssl
import string
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
READY_SECONDS = 90


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Cluster:
    directory: Path
    env: dict[str, str]
    https_port: int
    turn_port: int
    app_ports: list[int] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The address browsers use: nginx, over TLS (a self-signed certificate for 127.0.0.1)."""
        return f"https://127.0.0.1:{self.https_port}"

    def app_url(self, index: int) -> str:
        """One process directly, bypassing nginx (tests pin a client to a process this way)."""
        return f"http://127.0.0.1:{self.app_ports[index]}"

    @property
    def certificate(self) -> Path:
        return self.directory / "tls" / "cert.pem"

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Postgres:
    """A PostgreSQL server from Debian's binaries in ``directory`` (as the ``postgres`` user when
    run as root: PostgreSQL refuses root)."""

    directory: Path
    port: int = 0

    def _run(self, *cmd: str) -> None:
        if os.geteuid() == 0:
            cmd = ("runuser", "-u", "postgres", "--", *cmd)
        done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            log = self.directory / "log"
            raise RuntimeError(f"{' '.join(cmd)}: {done.stderr}{log.read_text()[-2000:] if log.exists() else ''}")

    @staticmethod
    def binary(name: str) -> str:
        found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        if not found:
            raise RuntimeError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
        return found[-1]

    def start(self) -> str:
        """Start it (initialising it the first time); returns the URL of its ``telemed`` database."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        data = self.directory / "data"
        if not data.exists():
            self._run(self.binary("initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                      "--locale=C")
        self.port = self.port or free_port()
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c max_connections=200"
        self._run(self.binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(self.directory / "log"), "-w", "start")
        admin = f"postgresql://postgres@127.0.0.1:{self.port}"
        with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'telemed'").fetchone():
                conn.execute("CREATE DATABASE telemed")
        return f"{admin}/telemed"

    def stop(self) -> None:
        self._run(self.binary("pg_ctl"), "-D", str(self.directory / "data"), "-m", "fast", "-w", "stop")


def _telemed() -> str:
    beside = Path(sys.executable).with_name("telemed")
    return str(beside) if beside.exists() else shutil.which("telemed") or "telemed"


def _tls(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _secrets(directory: Path) -> dict[str, str]:
    """Generated once per directory, kept in secrets.env (mode 600): a restart keeps them."""
    path = directory / "secrets.env"
    if not path.exists():
        values = {"TELEMED_SECRET_KEY": secrets.token_hex(32), "TELEMED_AUDIT_KEY": secrets.token_hex(32),
                  "TELEMED_TURN_SECRET": secrets.token_hex(24)}
        path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        path.chmod(0o600)
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    """A child that logs to a file, never to a pipe nobody reads."""
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_http(url: str, process: subprocess.Popen, log: Path) -> None:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # our own certificate, just made
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=3, context=context) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {READY_SECONDS} s:\n{log.read_text()[-3000:]}")


def _wait_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing listens on {port} after {READY_SECONDS} s")


def _turn_config(directory: Path, secret: str) -> Path:
    """The shipped coturn configuration plus the secret, in a file only we read (on the command
    line every user of the machine would see it)."""
    path = directory / "turnserver.conf"
    path.touch(mode=0o600)
    path.write_text((HERE / "coturn" / "turnserver.conf").read_text() + f"static-auth-secret={secret}\n")
    return path


def nginx_config(directory: Path, app_ports: list[int], https_port: int, http_port: int) -> Path:
    """The shipped server configuration, filled in for loopback, under a main file of our own."""
    conf = directory / "nginx"
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (conf / "tmp" / temp).mkdir(parents=True, exist_ok=True)
        (conf / "tmp" / temp).chmod(0o777)  # nginx's workers run as nobody when started as root
    upstreams = "\n    ".join(f"server 127.0.0.1:{port} max_fails=2 fail_timeout=5s;" for port in app_ports)
    template = string.Template((HERE / "nginx" / "telemed.conf.template").read_text())
    (conf / "telemed.conf").write_text(template.safe_substitute(
        TELEMED_UPSTREAM_SERVERS=upstreams, NGINX_HTTPS_LISTEN=f"127.0.0.1:{https_port}",
        NGINX_HTTP_LISTEN=f"127.0.0.1:{http_port}", NGINX_HTTPS_PORT=str(https_port),
        NGINX_TLS_CERT=str(directory / "tls" / "cert.pem"), NGINX_TLS_KEY=str(directory / "tls" / "key.pem")))
    temp = conf / "tmp"
    main = conf / "nginx.conf"
    main.write_text(f"""worker_processes auto;
pid {directory}/nginx.pid;
error_log {directory}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {directory}/nginx-access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {conf}/telemed.conf;
}}
""")
    return main


def start_nginx(directory: Path, app_ports: list[int], https_port: int, env: dict[str, str]) -> subprocess.Popen:
    """nginx over ``app_ports`` with the certificate in ``directory/tls``; returns once it answers."""
    main = nginx_config(directory, app_ports, https_port, free_port())
    subprocess.run(["nginx", "-t", "-q", "-p", str(directory), "-c", str(main)], check=True)
    log = directory / "nginx.log"
    process = _start(["nginx", "-p", str(directory), "-c", str(main), "-g", "daemon off;"], log, env)
    try:
        _wait_http(f"https://127.0.0.1:{https_port}/healthz", process, log)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process


def start(database_url: str, directory: Path, *, apps: int = 2, https_port: int = 0, turn: bool = True,
          extra_env: dict[str, str] | None = None) -> Cluster:
    """Migrate the database, start the processes, nginx and coturn; return once all answer."""
    directory.mkdir(parents=True, exist_ok=True)
    _tls(directory / "tls")
    cluster = Cluster(directory, {}, https_port or free_port(), free_port())
    env = {**os.environ, **_secrets(directory), "TELEMED_DATABASE_URL": database_url, "TELEMED_HOST": "127.0.0.1",
           "TELEMED_DATA_DIR": str(directory / "data"), "TELEMED_TRUSTED_PROXIES": "127.0.0.1/32",
           "TELEMED_COOKIE_SECURE": "1", "TELEMED_ICE_SERVERS": f"turn:127.0.0.1:{cluster.turn_port}",
           **(extra_env or {})}
    if not turn:
        env.pop("TELEMED_ICE_SERVERS")
    cluster.env = env
    try:
        subprocess.run([_telemed(), "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        for index in range(apps):
            port = free_port()
            log = directory / f"app{index + 1}.log"
            process = _start([_telemed(), "serve", "--port", str(port)], log, env)
            cluster.app_ports.append(port)
            cluster.processes.append(process)
            _wait_http(f"http://127.0.0.1:{port}/healthz", process, log)
        if turn:
            log = directory / "coturn.log"
            process = _start(["turnserver", "-c", str(_turn_config(directory, env["TELEMED_TURN_SECRET"])),
                              "--listening-ip=127.0.0.1",
                              "--relay-ip=127.0.0.1", f"--listening-port={cluster.turn_port}",
                              f"--pidfile={directory}/coturn.pid", "--log-file=stdout"], log, env)
            cluster.processes.append(process)
            _wait_port(cluster.turn_port, process, log)
        cluster.processes.append(start_nginx(directory, cluster.app_ports, cluster.https_port, env))
    except BaseException:
        cluster.stop()
        raise
    return cluster


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="default: a PostgreSQL server of its own in DIR/postgres")
    parser.add_argument("--dir", type=Path, required=True, help="where the logs, certificate, secrets and data go")
    parser.add_argument("--apps", type=int, default=2)
    parser.add_argument("--https-port", type=int, default=8443)
    args = parser.parse_args()
    postgres = None if args.database_url else Postgres(args.dir.resolve() / "postgres")
    url = args.database_url or postgres.start()
    try:
        cluster = start(url, args.dir, apps=args.apps, https_port=args.https_port)
        print(f"serving on {cluster.url} (processes on {', '.join(map(str, cluster.app_ports))}); Ctrl-C stops",
              flush=True)
        try:
            stop = {signal.SIGINT, signal.SIGTERM}
            signal.pthread_sigmask(signal.SIG_BLOCK, stop)  # sigwait takes only blocked signals
            signal.sigwait(stop)
        finally:
            cluster.stop()
    finally:
        if postgres:
            postgres.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
