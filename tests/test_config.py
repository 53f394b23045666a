import subprocess
import sys
from pathlib import Path

import pytest

from telemed.config import ConfigError, load_settings


def test_defaults():
    settings = load_settings({})
    assert settings.database_url == "sqlite:///var/telemed.db"
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.timezone == "Asia/Shanghai"
    assert settings.ice_servers == ()


def test_environment_overrides_toml(tmp_path: Path):
    config = tmp_path / "telemed.toml"
    config.write_text('[telemed]\nport = 9000\ntimezone = "Europe/Berlin"\ndata_dir = "/srv/telemed"\n')
    settings = load_settings({"TELEMED_CONFIG": str(config), "TELEMED_PORT": "9100"})
    assert settings.port == 9100
    assert settings.timezone == "Europe/Berlin"
    assert settings.data_dir == Path("/srv/telemed")


@pytest.mark.parametrize("env, message", [
    ({"TELEMED_PORT": "eighty"}, "TELEMED_PORT: expected int"),
    ({"TELEMED_PORT": "70000"}, "TELEMED_PORT: 70000 is not a TCP port"),
    ({"TELEMED_TIMEZONE": "Mars/Olympus"}, "TELEMED_TIMEZONE: unknown time zone"),
    ({"TELEMED_DATABASE_URL": "mysql://x"}, "TELEMED_DATABASE_URL: unsupported database 'mysql'"),
    ({"TELEMED_SECRET_KEY": "short"}, "TELEMED_SECRET_KEY: must be at least 16"),
    ({"TELEMED_ICE_SERVERS": "http://stun.example.org"}, "TELEMED_ICE_SERVERS"),
    ({"TELEMED_FACILITY_NETWORKS": "fac-a=not-a-network"}, "TELEMED_FACILITY_NETWORKS"),
    ({"TELEMED_CONFIG": "/nonexistent/telemed.toml"}, "file not found"),
])
def test_bad_setting_names_itself(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env)


def test_unknown_toml_key_is_refused(tmp_path: Path):
    config = tmp_path / "telemed.toml"
    config.write_text("prot = 80\n")
    with pytest.raises(ConfigError, match="unknown setting.*prot"):
        load_settings({"TELEMED_CONFIG": str(config)})


def test_cli_prints_one_line_not_a_traceback():
    result = subprocess.run([sys.executable, "-m", "telemed.cli", "db", "current"], capture_output=True, text=True,
                            env={"TELEMED_PORT": "eighty", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert result.stderr.strip() == "telemed: configuration error: TELEMED_PORT: expected int, got 'eighty'"
