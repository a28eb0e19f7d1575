"""TLS for the operator server: a certificate from config, or a generated self-signed one for development.

The self-signed certificate (made with the openssl CLI, which every Debian has) covers localhost,
127.0.0.1 and the host names given; browsers warn about it, and a headset needs it accepted once.
Production sites give ``tls_cert``/``tls_key`` from their own CA.
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import subprocess
from pathlib import Path


class TlsError(RuntimeError):
    pass


def self_signed(folder: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1"), days: int = 30) -> tuple[Path, Path]:
    """Make (or reuse, while it is valid for a day more) a self-signed certificate and key in folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "teleop-selfsigned.crt", folder / "teleop-selfsigned.key"
    openssl = shutil.which("openssl")
    if openssl is None:
        raise TlsError("no openssl CLI to make a self-signed certificate: give tls_cert and tls_key")
    if cert.exists() and key.exists():
        fresh = subprocess.run([openssl, "x509", "-checkend", "86400", "-noout", "-in", str(cert)], capture_output=True)
        if fresh.returncode == 0:
            return cert, key
    names = []
    for host in hosts:
        try:
            ipaddress.ip_address(host)
            names.append(f"IP:{host}")
        except ValueError:
            names.append(f"DNS:{host}")
    tmp_key = key.with_suffix(".key.tmp")
    result = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(tmp_key), "-out", str(cert), "-days", str(days), "-subj", "/CN=restock teleop (self-signed)",
         "-addext", f"subjectAltName={','.join(names)}"],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode != 0:
        raise TlsError(f"openssl could not make a certificate: {result.stderr.strip()[-300:]}")
    tmp_key.chmod(0o600)
    tmp_key.replace(key)
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as err:
        raise TlsError(f"cannot load the TLS certificate {cert} / key {key}: {err}") from None
    return ctx


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
