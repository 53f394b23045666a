"""Settings from environment variables, with an optional TOML file underneath.

Precedence: environment > TOML file (``TELEMED_CONFIG``) > defaults. A bad value raises
``ConfigError`` with one line that names the setting; the CLI prints it and exits.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class ConfigError(Exception):
    """A setting is missing or invalid."""


DEFAULT_SECRET = "dev-insecure-secret-change-me"


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///var/telemed.db"
    host: str = "127.0.0.1"
    port: int = 8080
    secret_key: str = DEFAULT_SECRET
    timezone: str = "Asia/Shanghai"
    data_dir: Path = Path("var/data")
    token_ttl_seconds: int = 8 * 3600
    ice_servers: tuple[str, ...] = ()
    turn_username: str = ""
    turn_credential: str = ""
    # "org-id=cidr" pairs: where each facility's clinic endpoints are. Empty: loopback only.
    facility_networks: tuple[str, ...] = ()
    cookie_secure: bool = False
    db_threads: int = 8
    report_workers: int = 2
    # Report workers yield the CPU to live calls: a batch must not make video stutter.
    report_nice: int = 15
    # Relay VP8 video without re-encoding; off re-encodes everything (codec trouble, comparisons).
    webrtc_passthrough: bool = True
    # Consult media: "embedded" (the aiortc relay, no set-up) or "janus" (a Janus videoroom).
    media: str = "embedded"
    # The embedded relay's worker processes, rooms spread across them: 0 one per core; -1 none,
    # media on a thread of the server's own process.
    media_workers: int = 0
    # Janus: its HTTP API (".../janus") and admin API (".../admin"), and the admin secret.
    janus_url: str = "http://127.0.0.1:8088/janus"
    janus_admin_url: str = "http://127.0.0.1:7088/admin"
    janus_admin_secret: str = field(default="", repr=False)
    # Write the audit trail from a child process (telemed.audit_process), off the event loop's GIL.
    audit_process: bool = True
    # The MLLP listener for analyzers (``telemed labs listen``): loopback unless set otherwise,
    # and TLS with client certificates when the three PEM files are given.
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    mllp_tls_cert: str = ""
    mllp_tls_key: str = ""
    mllp_tls_ca: str = ""
    # The audit trail's MAC key (hex), and the key file that holds it and earlier keys;
    # by default <data_dir>/audit.key, written on the first run. Never the session secret.
    audit_key: str = field(default="", repr=False)
    audit_key_file: str = ""
    # Where the signed checkpoints of the chain's head go (default <data_dir>/audit-checkpoints.jsonl),
    # and whether they also go to syslog (facility authpriv), through which local socket.
    audit_checkpoints: str = ""
    audit_syslog: bool = False
    # Behind a reverse proxy (deploy/): the proxies' addresses (CIDRs). A request from one of
    # them is taken to come from the address in its X-Real-IP header, so that the login brake,
    # the audit trail and the facility networks see the client, not the proxy.
    trusted_proxies: tuple[str, ...] = ()
    # coturn's use-auth-secret: the app hands each browser a TURN password that expires after
    # turn_ttl_seconds (the TURN REST API scheme) instead of one fixed credential.
    turn_secret: str = field(default="", repr=False)
    turn_ttl_seconds: int = 6 * 3600
    # How long a process trusts a checked token without asking the database again; revocations
    # reach every process at once over the bus, this bounds a missed message.
    token_cache_seconds: int = 5
    audit_syslog_socket: str = "/dev/log"
    # Minutes after its pill call that a dose not recorded counts as missed and flags the doctor.
    missed_dose_minutes: int = 120
    # Hours a finished bulk export's files are kept; then they are deleted and the status URL is 404.
    export_ttl_hours: int = 24
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def describe(self) -> str:
        """The settings that shape what the server does, without its secrets."""
        hidden = {"secret_key", "audit_key", "turn_credential", "turn_secret", "janus_admin_secret", "extra"}
        shown = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        shown["database_url"] = self.database_url.split("@")[-1]  # no password
        return "; ".join(f"{name}={value}" for name, value in shown.items())[:2000]

    @property
    def audit_key_path(self) -> Path:
        return Path(self.audit_key_file) if self.audit_key_file else self.data_dir / "audit.key"

    @property
    def audit_checkpoint_path(self) -> Path:
        return Path(self.audit_checkpoints) if self.audit_checkpoints else self.data_dir / "audit-checkpoints.jsonl"


_ENV = {
    "database_url": "TELEMED_DATABASE_URL",
    "host": "TELEMED_HOST",
    "port": "TELEMED_PORT",
    "secret_key": "TELEMED_SECRET_KEY",
    "timezone": "TELEMED_TIMEZONE",
    "data_dir": "TELEMED_DATA_DIR",
    "token_ttl_seconds": "TELEMED_TOKEN_TTL",
    "ice_servers": "TELEMED_ICE_SERVERS",
    "turn_username": "TELEMED_TURN_USERNAME",
    "turn_credential": "TELEMED_TURN_CREDENTIAL",
    "facility_networks": "TELEMED_FACILITY_NETWORKS",
    "cookie_secure": "TELEMED_COOKIE_SECURE",
    "db_threads": "TELEMED_DB_THREADS",
    "report_workers": "TELEMED_REPORT_WORKERS",
    "report_nice": "TELEMED_REPORT_NICE",
    "webrtc_passthrough": "TELEMED_WEBRTC_PASSTHROUGH",
    "media": "TELEMED_MEDIA",
    "media_workers": "TELEMED_MEDIA_WORKERS",
    "janus_url": "TELEMED_JANUS_URL",
    "janus_admin_url": "TELEMED_JANUS_ADMIN_URL",
    "janus_admin_secret": "TELEMED_JANUS_ADMIN_SECRET",
    "audit_process": "TELEMED_AUDIT_PROCESS",
    "mllp_host": "TELEMED_MLLP_HOST",
    "mllp_port": "TELEMED_MLLP_PORT",
    "mllp_tls_cert": "TELEMED_MLLP_TLS_CERT",
    "mllp_tls_key": "TELEMED_MLLP_TLS_KEY",
    "mllp_tls_ca": "TELEMED_MLLP_TLS_CA",
    "audit_key": "TELEMED_AUDIT_KEY",
    "audit_key_file": "TELEMED_AUDIT_KEY_FILE",
    "audit_checkpoints": "TELEMED_AUDIT_CHECKPOINTS",
    "audit_syslog": "TELEMED_AUDIT_SYSLOG",
    "trusted_proxies": "TELEMED_TRUSTED_PROXIES",
    "turn_secret": "TELEMED_TURN_SECRET",
    "turn_ttl_seconds": "TELEMED_TURN_TTL",
    "token_cache_seconds": "TELEMED_TOKEN_CACHE_SECONDS",
    "audit_syslog_socket": "TELEMED_AUDIT_SYSLOG_SOCKET",
    "missed_dose_minutes": "TELEMED_MISSED_DOSE_MINUTES",
    "export_ttl_hours": "TELEMED_EXPORT_TTL_HOURS",
}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, object] = {}
    config_file = env.get("TELEMED_CONFIG")
    if config_file:
        raw.update(_read_toml(Path(config_file)))
    for name, var in _ENV.items():
        if var in env and env[var] != "":
            raw[name] = env[var]
    return _build(raw)


def _read_toml(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"TELEMED_CONFIG: file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"TELEMED_CONFIG: {path} is not valid TOML: {exc}") from None
    section = data.get("telemed", data)
    unknown = set(section) - set(_ENV)
    if unknown:
        raise ConfigError(f"TELEMED_CONFIG: unknown setting(s) {', '.join(sorted(unknown))} in {path}")
    return dict(section)


def _build(raw: dict[str, object]) -> Settings:
    kwargs: dict[str, object] = {}
    types = {f.name: f.type for f in fields(Settings)}
    for name, value in raw.items():
        kwargs[name] = _coerce(name, types[name], value)
    settings = Settings(**kwargs)  # type: ignore[arg-type]
    _check(settings)
    return settings


def _coerce(name: str, type_name: object, value: object) -> object:
    var = _ENV[name]
    try:
        if type_name == "int":
            return int(value)  # type: ignore[arg-type]
        if type_name == "bool":
            return value if isinstance(value, bool) else str(value).lower() in {"1", "true", "yes", "on"}
        if type_name == "Path":
            return Path(str(value))
        if type_name == "tuple[str, ...]":
            items = value if isinstance(value, list) else str(value).split(",")
            return tuple(s.strip() for s in items if str(s).strip())
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{var}: expected {type_name}, got {value!r}") from None


def _check(settings: Settings) -> None:
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"TELEMED_TIMEZONE: unknown time zone {settings.timezone!r}") from None
    if not 0 < settings.port < 65536:
        raise ConfigError(f"TELEMED_PORT: {settings.port} is not a TCP port")
    if not 0 < settings.missed_dose_minutes <= 24 * 60:
        raise ConfigError("TELEMED_MISSED_DOSE_MINUTES: must be 1 to 1440")
    if settings.export_ttl_hours < 1:
        raise ConfigError("TELEMED_EXPORT_TTL_HOURS: must be a whole number of hours, 1 or more")
    if not settings.database_url.startswith(("sqlite", "postgresql", "postgres")):
        raise ConfigError(
            f"TELEMED_DATABASE_URL: unsupported database {settings.database_url.split(':')[0]!r} "
            "(use sqlite:///path or postgresql://user@host/db)"
        )
    if len(settings.secret_key) < 16:
        raise ConfigError("TELEMED_SECRET_KEY: must be at least 16 characters")
    if settings.audit_key and settings.audit_key == settings.secret_key:
        raise ConfigError("TELEMED_AUDIT_KEY: must not be the session secret (TELEMED_SECRET_KEY)")
    for pair in settings.facility_networks:
        org, _, cidr = pair.partition("=")
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(f"TELEMED_FACILITY_NETWORKS: {pair!r} is not org-id=cidr") from None
        if not org:
            raise ConfigError(f"TELEMED_FACILITY_NETWORKS: {pair!r} is not org-id=cidr")
    tls_files = (settings.mllp_tls_cert, settings.mllp_tls_key, settings.mllp_tls_ca)
    if any(tls_files) and not all(tls_files):
        raise ConfigError("TELEMED_MLLP_TLS_CERT, TELEMED_MLLP_TLS_KEY, TELEMED_MLLP_TLS_CA: give all three or none")
    if not 0 < settings.mllp_port < 65536:
        raise ConfigError(f"TELEMED_MLLP_PORT: {settings.mllp_port} is not a TCP port")
    for cidr in settings.trusted_proxies:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(f"TELEMED_TRUSTED_PROXIES: {cidr!r} is not an address or CIDR") from None
    if settings.turn_secret and settings.turn_credential:
        raise ConfigError("TELEMED_TURN_SECRET, TELEMED_TURN_CREDENTIAL: give one, not both")
    if settings.turn_ttl_seconds <= 0:
        raise ConfigError(f"TELEMED_TURN_TTL: {settings.turn_ttl_seconds} is not a positive number of seconds")
    if settings.media not in ("embedded", "janus"):
        raise ConfigError(f"TELEMED_MEDIA: {settings.media!r} is neither embedded nor janus")
    if settings.media_workers < -1:
        raise ConfigError(f"TELEMED_MEDIA_WORKERS: {settings.media_workers} (0: one per core, -1: none)")
    if settings.media == "janus" and not settings.janus_admin_secret:
        raise ConfigError("TELEMED_JANUS_ADMIN_SECRET: required with TELEMED_MEDIA=janus (tokens are added through "
                          "Janus's admin API)")
    for url in settings.ice_servers:
        if not url.startswith(("stun:", "turn:", "turns:")):
            raise ConfigError(f"TELEMED_ICE_SERVERS: {url!r} is not a stun:/turn: URL")
