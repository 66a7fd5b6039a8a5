"""Tenku's own certificate authority and server certificate.

The CA is made once, on first start, and never replaced: clients are told to trust
`<data>/tls/ca.pem`, so replacing it would break every client that already does. It
carries name constraints: it can certify only the names the server certificate covered
when it was made (the base domain and its subdomains, loopback, the listener's host,
`TENKU_API_URL`'s and `TENKU_TLS_HOSTNAMES`), so its key, were it ever to leak, could
not impersonate any other site to the machines that trust it. The
server certificate is re-issued from it whenever the names it must cover change or it
nears expiry. Every TLS listener (API, git, blob URLs, and later others) loads its
context from `server_ssl_context`; the router switches to one from `pem_ssl_context` for
a custom domain with a certificate of its app's.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import secrets
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tenku.config import Settings

CA_LIFETIME = timedelta(days=3650)
# Within what Apple and browsers accept for a server certificate.
CERT_LIFETIME = timedelta(days=397)
RENEW_BEFORE = timedelta(days=30)
# Tolerates clocks that run a little behind the server's.
BACKDATE = timedelta(hours=1)
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class TlsError(Exception):
    pass


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def tls_files(data_dir: Path) -> TlsFiles:
    root = data_dir / "tls"
    return TlsFiles(
        ca_cert=root / "ca.pem",
        ca_key=root / "ca-key.pem",
        cert=root / "server.pem",
        key=root / "server-key.pem",
    )


def _bare_host(value: str) -> str:
    """A host name or address from a configured value that may be a URL or host:port."""
    value = value.strip()
    if "://" in value:
        return urlsplit(value).hostname or ""
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


def _is_wildcard_bind(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


def cert_hostnames(settings: Settings) -> list[str]:
    """Every name and address the server certificate must cover, normalized and sorted."""
    wanted = set(LOOPBACK)
    wanted.update(settings.tls_hostnames)
    if not _is_wildcard_bind(settings.host):
        wanted.add(settings.host)
    if settings.api_url:
        wanted.add(settings.api_url)
    if settings.base_domain:
        wanted.update({settings.base_domain, f"*.{settings.base_domain}"})
    names = set()
    for value in wanted:
        host = _bare_host(value).rstrip(".").lower()
        if not host:
            continue
        try:
            names.add(str(ipaddress.ip_address(host)))
        except ValueError:
            names.add(host)
    return sorted(names)


def _general_names(names: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _names_of(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    dns = [n.lower() for n in san.get_values_for_type(x509.DNSName)]
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return sorted(dns + ips)


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TlsError(f"{path} is not the EC key Tenku made")
    return key


def _subtree(name: str) -> x509.GeneralName:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        # A DNS constraint covers the name and every name below it.
        return x509.DNSName(name[2:] if name.startswith("*.") else name)
    return x509.IPAddress(ipaddress.ip_network(address))


def _constraints(names: list[str]) -> x509.NameConstraints:
    permitted: list[x509.GeneralName] = []
    for name in names:
        subtree = _subtree(name)
        if subtree not in permitted:
            permitted.append(subtree)
    return x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None)


def _permits(ca_cert: x509.Certificate, name: str) -> bool:
    try:
        constraints = ca_cert.extensions.get_extension_for_class(x509.NameConstraints).value
    except x509.ExtensionNotFound:
        return True
    subtrees = constraints.permitted_subtrees or []
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        host = name[2:] if name.startswith("*.") else name
        return any(
            isinstance(s, x509.DNSName) and (host == s.value or host.endswith("." + s.value))
            for s in subtrees
        )
    return any(
        isinstance(s, x509.IPAddress)
        and isinstance(s.value, ipaddress.IPv4Network | ipaddress.IPv6Network)
        and address in s.value
        for s in subtrees
    )


def _make_ca(
    files: TlsFiles, names: list[str]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    # A per-installation suffix keeps two Tenku CAs apart in a trust store.
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenku"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Tenku local CA {secrets.token_hex(4)}"),
        ]
    )
    now = datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_constraints(names), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    # The key first: a CA certificate without its key could never issue anything.
    _write(files.ca_key, _key_pem(key), 0o600)
    _write(files.ca_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return cert, key


def _load_ca(
    files: TlsFiles, names: list[str]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    have_cert, have_key = files.ca_cert.exists(), files.ca_key.exists()
    if not have_cert and not have_key:
        return _make_ca(files, names)
    if not (have_cert and have_key):
        missing = files.ca_key if have_cert else files.ca_cert
        raise TlsError(
            f"{missing} is missing. Tenku never replaces its certificate authority, since "
            "clients already trust it: restore the file, or remove the whole "
            f"{files.ca_cert.parent} directory to start over with a new one."
        )
    cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    return cert, _load_key(files.ca_key)


def _issue(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    names: list[str],
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    expires = min(now + CERT_LIFETIME, ca_cert.not_valid_after_utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tenku"),
                    x509.NameAttribute(NameOID.COMMON_NAME, "Tenku server"),
                ]
            )
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(expires)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_general_names(names)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    # The key before the certificate: a reader pairing a new cert with an old key fails.
    _write(key_path, _key_pem(key), 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _needs_new_cert(
    cert_path: Path, key_path: Path, ca_cert: x509.Certificate, names: list[str]
) -> bool:
    if not (cert_path.exists() and key_path.exists()):
        return True
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        cert.verify_directly_issued_by(ca_cert)
        key = _load_key(key_path)
    except (ValueError, TypeError, InvalidSignature, TlsError):
        return True
    if key.public_key() != cert.public_key():
        return True
    if cert.not_valid_after_utc - datetime.now(UTC) < RENEW_BEFORE:
        return True
    return _names_of(cert) != names


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # Several processes (workers, operator commands) may start at once.
    with (directory / ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _certify(files: TlsFiles, cert: Path, key: Path, names: list[str], advice: str) -> bool:
    """(Re)issue the certificate at `cert` and `key` from the CA (made now if there is none)
    when needed; True when it did."""
    with _locked(files.ca_cert.parent):
        ca_cert, ca_key = _load_ca(files, names)
        outside = [name for name in names if not _permits(ca_cert, name)]
        if outside:
            raise TlsError(
                f"The certificate at {cert} must cover {', '.join(outside)}, which Tenku's "
                "certificate authority may not certify: it is constrained to the names it was "
                f"made for. {advice}".rstrip()
            )
        if not _needs_new_cert(cert, key, ca_cert, names):
            return False
        _issue(cert, key, ca_cert, ca_key, names)
    return True


def ensure_tls(settings: Settings) -> TlsFiles:
    """Make the CA if there is none, and (re)issue the server certificate when needed."""
    files = tls_files(settings.data_dir)
    files.ca_cert.parent.mkdir(parents=True, exist_ok=True)
    advice = (
        "Either leave those names out (TENKU_TLS_HOSTNAMES, TENKU_API_URL, --host), or remove "
        f"{files.ca_cert.parent} to make a new authority (every client must then trust the "
        "new ca.pem)."
    )
    _certify(files, files.cert, files.key, cert_hostnames(settings), advice)
    return files


def ensure_leaf(settings: Settings, cert: Path, key: Path, names: list[str]) -> bool:
    """A server certificate from Tenku's CA at `cert` and `key` (for servers other than
    Tenku's listeners, such as the managed add-on servers), issued again when missing,
    near its expiry or naming other hosts. True when a new one was written."""
    return _certify(ensure_tls(settings), cert, key, sorted(names), "")


def _server_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def server_ssl_context(settings: Settings) -> ssl.SSLContext:
    """The context every Tenku TLS listener serves with."""
    files = ensure_tls(settings)
    ctx = _server_context()
    ctx.load_cert_chain(files.cert, files.key)
    return ctx


@contextlib.contextmanager
def _unnamed_file(data: bytes) -> Iterator[str]:
    """A path OpenSSL can read `data` from, which no other process can open.

    `ssl` loads certificates and keys only from paths. On Linux the data lives in an
    anonymous memory file, so a private key never touches a disk; elsewhere it is a file
    in a directory only this user can enter, removed as soon as it has been read.
    """
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None:
        fd = memfd_create("tenku-pem", os.MFD_CLOEXEC)
        try:
            _write_all(fd, data)
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="tenku-pem-") as directory:
        path = Path(directory) / "pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        yield str(path)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def pem_ssl_context(chain: bytes, key: bytes) -> ssl.SSLContext:
    """A server context like Tenku's own, serving a certificate chain and key given as PEM.

    Raises ssl.SSLError when OpenSSL will not serve them (a key that does not match, one
    too weak for its security level).
    """
    ctx = _server_context()
    with _unnamed_file(chain.rstrip() + b"\n" + key.rstrip() + b"\n") as path:
        # The certificates, then the key, from one file.
        ctx.load_cert_chain(path)
    return ctx


def client_ssl_context(settings: Settings) -> ssl.SSLContext:
    """A client context that trusts Tenku's CA (for Tenku calling itself, and tests)."""
    files = ensure_tls(settings)
    return ssl.create_default_context(cafile=str(files.ca_cert))
