from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import ConfigError, load_settings, masked_dump


def test_defaults_use_the_embedded_server_and_bundled_model(monkeypatch: pytest.MonkeyPatch) -> None:
    s = load_settings()
    assert s.storage.endpoint is None
    assert s.model.name == "vigil-tiny"


def test_nested_environment_variables_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_STORAGE__ENDPOINT", "minio.example:9000")
    monkeypatch.setenv("VIGIL_RAY__EMBEDDERS", "3")
    s = load_settings()
    assert (s.storage.endpoint, s.ray.embedders) == ("minio.example:9000", 3)


@pytest.mark.parametrize("var, named", [("VIGIL_STORAGE__ENDPIONT", "storage.endpiont"),
                                        ("VIGIL_SERVR__PORT", "VIGIL_SERVR__PORT")])
def test_unknown_environment_keys_are_named(monkeypatch: pytest.MonkeyPatch, var: str, named: str) -> None:
    monkeypatch.setenv(var, "1")
    with pytest.raises(ConfigError, match=named):
        load_settings()


def test_yaml_file_is_read_and_unknown_keys_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIGIL_CONFIG", raising=False)
    good = tmp_path / "vigil.yaml"
    good.write_text("storage:\n  endpoint: s3.local:9000\n  bucket: city\n")
    assert load_settings(good).storage.bucket == "city"
    bad = tmp_path / "bad.yaml"
    bad.write_text("storage:\n  buckett: city\n")
    with pytest.raises(ConfigError, match=r"storage\.buckett"):
        load_settings(bad)


def test_invalid_values_name_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_SERVER__PORT", "70000")
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_settings()


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIGIL_STORAGE__SECRET_KEY", "hunter2-very-secret")
    s = load_settings()
    assert "hunter2" not in repr(s) and "hunter2" not in json.dumps(masked_dump(s))
    assert s.storage.secret_key is not None
    assert s.storage.secret_key.get_secret_value() == "hunter2-very-secret"


def test_validate_config_command_prints_masked_configuration(tmp_path: Path) -> None:
    env = {"VIGIL_STORAGE__SECRET_KEY": "hunter2-very-secret", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "services.cli", "validate-config"], env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert json.loads(out)["storage"]["secret_key"] == "**********"
    assert "hunter2" not in out


def test_validate_config_command_names_a_wrong_key() -> None:
    env = {"VIGIL_MODEL__NAMEE": "x", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "services.cli", "validate-config"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "model.namee" in proc.stderr
