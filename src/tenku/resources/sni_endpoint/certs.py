"""Uploaded certificates: checked before they are stored, and what they say of themselves.

A chain is accepted when its first certificate is the one the key belongs to, that
certificate has not expired, and every certificate after it signed the one before (with
`preprocess`, the certificates are put in that order first; one that belongs nowhere in
it is refused). The router must be able to serve it: OpenSSL loads the pair here too.
"""

from __future__ import annotations

import functools
import itertools
import logging
import ssl
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from tenku.tls import pem_ssl_context
from tenku.web.errors import InvalidParams

log = logging.getLogger("tenku.certs")

PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"
# Beyond any real chain (a leaf, a few intermediates, perhaps a root).
MAX_CERTIFICATES = 10
# OpenSSL's one-line names for attributes RFC 4514 has no short name for.
_SHORT = {
    NameOID.EMAIL_ADDRESS: "emailAddress",
    NameOID.SERIAL_NUMBER: "serialNumber",
    NameOID.GIVEN_NAME: "GN",
    NameOID.SURNAME: "SN",
    NameOID.TITLE: "title",
    NameOID.POSTAL_CODE: "postalCode",
    NameOID.BUSINESS_CATEGORY: "businessCategory",
    NameOID.JURISDICTION_COUNTRY_NAME: "jurisdictionC",
    NameOID.JURISDICTION_STATE_OR_PROVINCE_NAME: "jurisdictionST",
    NameOID.JURISDICTION_LOCALITY_NAME: "jurisdictionL",
    NameOID.ORGANIZATION_IDENTIFIER: "organizationIdentifier",
}


@dataclass(frozen=True)
class Certificate:
    """A checked chain and key, as stored, and what the API says of them."""

    chain: str
    key: str
    cert_domains: list[str]
    starts_at: datetime
    expires_at: datetime
    issuer: str
    subject: str
    ca_signed: bool
    self_signed: bool


def oneline(name: x509.Name) -> str:
    """A name as OpenSSL prints it and Heroku shows it: `/C=US/O=Example/CN=example.com`."""
    parts = []
    for attribute in name:
        short = _SHORT.get(attribute.oid) or attribute.rfc4514_attribute_name
        value = attribute.value
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        parts.append(f"{short}={text}")
    return "/" + "/".join(parts)


def names_of(cert: x509.Certificate) -> list[str]:
    """The DNS names a certificate is for: its subject alternative names, else its CN."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = [n.lower().rstrip(".") for n in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        names = []
    except ValueError:
        # A malformed extension: the certificate is judged by its subject alone.
        names = []
    if not names:
        names = [
            str(a.value).lower().rstrip(".")
            for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        ]
    return list(dict.fromkeys(n for n in names if n))


def covers(cert_domains: Sequence[str], hostname: str) -> bool:
    """Whether a certificate for `cert_domains` is valid for `hostname` (RFC 6125: a
    wildcard stands for exactly one whole leftmost label). A wildcard domain is covered by
    the same wildcard."""
    host = hostname.lower().rstrip(".")
    for name in cert_domains:
        if name == host:
            return True
        if name.startswith("*.") and not host.startswith("*."):
            label, _, rest = host.partition(".")
            if label and rest == name[2:]:
                return True
    return False


def _describe(cert: x509.Certificate) -> str:
    names = names_of(cert)
    return names[0] if names else oneline(cert.subject)


def _load_chain(text: str) -> list[x509.Certificate]:
    data = text.encode()
    if PEM_CERTIFICATE not in data:
        raise InvalidParams(
            "certificate_chain is not a PEM certificate chain: it has no "
            "-----BEGIN CERTIFICATE----- block."
        )
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise InvalidParams(
            "certificate_chain is not a valid PEM certificate chain: a certificate in it "
            "cannot be read."
        ) from exc
    if len(certs) > MAX_CERTIFICATES:
        raise InvalidParams(
            f"certificate_chain has {len(certs)} certificates; at most "
            f"{MAX_CERTIFICATES} are accepted."
        )
    return certs


def _load_key(text: str) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(text.encode(), password=None)
    except TypeError as exc:
        raise InvalidParams(
            "private_key is protected by a passphrase; upload it without one."
        ) from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidParams("private_key is not a valid PEM private key.") from exc


def _spki(public: object) -> bytes:
    encode = getattr(public, "public_bytes", None)
    if encode is None:
        return b""
    der: bytes = encode(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def _issued(child: x509.Certificate, parent: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(parent)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def _not_signed(child: x509.Certificate, parent: x509.Certificate) -> InvalidParams:
    return InvalidParams(
        f"certificate_chain does not verify: the certificate for {_describe(child)} was not "
        f"signed by the one after it ({oneline(parent.subject)})."
    )


def _ordered(certs: list[x509.Certificate], preprocess: bool) -> list[x509.Certificate]:
    """The chain from the leaf (the first certificate) up, each signed by the next."""
    if not preprocess:
        for child, parent in itertools.pairwise(certs):
            if not _issued(child, parent):
                raise _not_signed(child, parent)
        return certs
    path, rest = [certs[0]], list(certs[1:])
    while rest:
        current = path[-1]
        if current.issuer == current.subject:
            break
        named = [c for c in rest if c.subject == current.issuer]
        issuer = next((c for c in named if _issued(current, c)), None)
        if issuer is None:
            if named:
                raise _not_signed(current, named[0])
            break
        path.append(issuer)
        rest.remove(issuer)
    if rest:
        raise InvalidParams(
            "certificate_chain does not verify: the certificate for "
            f"{_describe(rest[0])} did not sign any certificate of the chain of "
            f"{_describe(certs[0])}."
        )
    return path


@functools.cache
def _trusted() -> verification.Store | None:
    """The certificate authorities this machine trusts (for `ca_signed?`)."""
    roots = []
    for der in ssl.create_default_context().get_ca_certs(binary_form=True):
        # Some roots machines ship break RFC 5280 (negative serial numbers): cryptography
        # warns of them, and they still anchor chains.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            try:
                roots.append(x509.load_der_x509_certificate(der))
            except ValueError:
                continue
    if not roots:
        log.info("no trusted certificate authorities found; no certificate is ca_signed")
        return None
    return verification.Store(roots)


def _ca_signed(path: list[x509.Certificate], names: list[str], now: datetime) -> bool:
    store = _trusted()
    if store is None or not names:
        return False
    # A name the certificate is valid for: a wildcard's stands for any one label.
    name = names[0].replace("*", "wildcard", 1) if names[0].startswith("*.") else names[0]
    try:
        verifier = (
            verification.PolicyBuilder()
            .store(store)
            .time(now)
            .build_server_verifier(x509.DNSName(name))
        )
        verifier.verify(path[0], path[1:])
    except (verification.VerificationError, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _fmt(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def check(chain: str, key: str, *, preprocess: bool = True) -> Certificate:
    """The chain and key if the router can serve them; a 422 saying why not otherwise."""
    try:
        return _check(chain, key, preprocess)
    except (ValueError, UnsupportedAlgorithm) as exc:
        # cryptography reads certificates lazily: a malformed part (a name, an extension)
        # is only found when it is looked at.
        raise InvalidParams(
            "certificate_chain or private_key cannot be read: a part of it is malformed."
        ) from exc


def _check(chain: str, key: str, preprocess: bool) -> Certificate:
    certs = _load_chain(chain)
    private = _load_key(key)
    leaf = certs[0]
    try:
        leaf_key = leaf.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise InvalidParams(
            "The certificate's public key is of a kind Tenku cannot serve."
        ) from exc
    if _spki(private.public_key()) != _spki(leaf_key):
        raise InvalidParams(
            "private_key does not match the certificate: it is not the key of the first "
            f"certificate in certificate_chain ({_describe(leaf)})."
        )
    now = datetime.now(UTC)
    path = _ordered(certs, preprocess)
    for cert in path:
        if cert.not_valid_after_utc <= now:
            which = "certificate" if cert is leaf else "intermediate certificate"
            raise InvalidParams(
                f"The {which} for {_describe(cert)} expired on {_fmt(cert.not_valid_after_utc)}."
            )
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in path)
    key_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        pem_ssl_context(chain_pem, key_pem)
    except ssl.SSLError as exc:
        reason = (exc.reason or str(exc)).lower().replace("_", " ")
        raise InvalidParams(
            f"This certificate and key cannot be served over TLS ({reason})."
        ) from exc
    names = names_of(leaf)
    return Certificate(
        chain=chain_pem.decode(),
        key=key_pem.decode(),
        cert_domains=names,
        starts_at=leaf.not_valid_before_utc,
        expires_at=leaf.not_valid_after_utc,
        issuer=oneline(leaf.issuer),
        subject=oneline(leaf.subject),
        ca_signed=_ca_signed(path, names, now),
        self_signed=leaf.issuer == leaf.subject and _issued(leaf, leaf),
    )
