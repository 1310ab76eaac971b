"""The files in deploy/: the environment template names every setting, the systemd units
pass ``systemd-analyze verify`` (and a broken one does not), nginx accepts the site, the
compose variant of the site stays the same as the plain one, and nothing logs addresses."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from chatserver.config import Settings

DEPLOY = REPO / "deploy"
CHATSERVER = Path(sys.executable).with_name("chatserver")


def test_the_environment_template_names_every_setting() -> None:
    text = (DEPLOY / "chatserver.env.example").read_text("utf-8")
    named = set(re.findall(r"^#? ?CHAT_([A-Z_]+)=", text, re.M))
    assert named == {f.name.upper() for f in dataclasses.fields(Settings)}


def _verify(unit_dir: Path, unit: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit_dir / unit)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "instance"),
    [("chatserver@.service", "chatserver@8081.service"), ("chatserver-retention.service", None)],
)
def test_systemd_units_verify(tmp_path: Path, name: str, instance: str | None) -> None:
    """The units as shipped, with the software where this machine has it."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    env = tmp_path / "chatserver.env"
    env.write_text((DEPLOY / "chatserver.env.example").read_text("utf-8"))
    unit = (DEPLOY / "systemd" / name).read_text("utf-8")
    assert "DynamicUser=yes" in unit and "NoNewPrivileges=yes" in unit
    assert "ProtectSystem=strict" in unit and "CapabilityBoundingSet=\n" in unit
    local = unit.replace("/opt/chatserver/venv/bin/chatserver", str(CHATSERVER)).replace(
        "/etc/chatserver/chatserver.env", str(env)
    )
    (tmp_path / name).write_text(local)
    result = _verify(tmp_path, instance or name)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
    # The same check fails for a broken unit, so it is not vacuous.
    broken = local.replace("ProtectSystem=strict", "ProtectSystem=bogus").replace(
        str(CHATSERVER), "/nonexistent/chatserver"
    )
    (tmp_path / name).write_text(broken)
    assert _verify(tmp_path, instance or name).returncode != 0


def test_the_compose_site_is_the_plain_site_with_its_replicas() -> None:
    plain = (DEPLOY / "nginx" / "chatserver.conf").read_text("utf-8")
    compose = (DEPLOY / "nginx" / "compose.conf").read_text("utf-8")

    def body(text: str) -> str:
        return text.split("\nupstream ", 1)[1]

    expected = (
        body(plain).replace("127.0.0.1:8081", "chat1:8080").replace("127.0.0.1:8082", "chat2:8080")
    )
    assert body(compose) == expected


def test_nothing_in_deploy_logs_client_addresses() -> None:
    """No access log anywhere, no address passed on to the chat server."""
    for path in (DEPLOY / "nginx").glob("*.conf"):
        site = path.read_text("utf-8")
        assert site.count("access_log off;") == 2, path
        assert "$remote_addr" not in site and "$proxy_add_x_forwarded_for" not in site
        assert re.findall(r"error_log \S+ (\w+);", site) == ["crit", "crit"]
    compose = (DEPLOY / "compose.yaml").read_text("utf-8")
    assert "access_log" not in compose or "off" in compose


def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    """``nginx -t`` with the site, a self-signed certificate and a minimal main file."""
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx)")
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "chat.example.org")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "fullchain.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "privkey.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    site = (DEPLOY / "nginx" / "chatserver.conf").read_text("utf-8")
    site = site.replace("/etc/ssl/chatserver", str(tmp_path)).replace(
        "/var/log/nginx", str(tmp_path)
    )
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/main.log crit;\n"
        "events {}\n"
        f"http {{\n access_log off;\n include {tmp_path}/site.conf;\n}}\n"
    )
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_file_is_valid_where_docker_compose_exists(tmp_path: Path) -> None:
    docker = shutil.which("docker")
    has_compose = (
        docker is not None
        and subprocess.run(
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if not has_compose:
        pytest.skip("no docker compose client here (no container engine runs on this machine)")
    env = DEPLOY / "chatserver.env"
    created = not env.exists()
    if created:
        env.write_text((DEPLOY / "chatserver.env.example").read_text("utf-8"))
    try:
        result = subprocess.run(
            [str(docker), "compose", "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
            capture_output=True,
            text=True,
            env={"POSTGRES_PASSWORD": "example", "PATH": "/usr/bin:/bin:/usr/local/bin"},
            timeout=60,
            check=False,
        )
    finally:
        if created:
            env.unlink()
    assert result.returncode == 0, result.stderr
