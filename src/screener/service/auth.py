"""Who may call the service: the trust file, and the CDS Hooks JWT every EHR call carries.

CDS Hooks 2.0, "Trusting CDS Clients": each call carries `Authorization: Bearer
<JWT>`, signed with the EHR's private key (never `none`, never a shared-secret
HMAC); the header names the key (`kid`) and may name the EHR's JWK Set
(`jku`); the claims name the issuer (`iss`), the service URL called (`aud`),
the expiry and issue time (`exp`, `iat`) and a nonce (`jti`). Services SHOULD
keep an allow-list of `iss` and `jku` URLs. This module checks all of it:

- `alg` on the allow-list (ES384 and RS384 by default; symmetric and `none`
  algorithms cannot even be configured), `typ` JWT, `kid` present;
- `iss` on the trust file's list, with that issuer's JWKS URL; a `jku` header
  is followed only when it is that URL or one the issuer's entry lists;
- the signature, with the JWK whose `kid` matches, from a JWK Set cached for
  `jwks_ttl_seconds` and fetched again (once, at most every few seconds) when a
  token names a `kid` the cached set lacks, so a rotated key is picked up;
- `aud` equal to one of the service's configured base URLs plus the path that
  was called (`https://cds.example.org/cds-services/screener-order-sign`);
- `exp` in the future and `iat` not in the future (both within `leeway_seconds`),
  and no more than `max_lifetime_seconds` apart;
- `jti` never seen before from that issuer (kept until the token expires).

Every failure is an `AuthError` with a one-line reason; the app answers it 401.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
import tomllib
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio.to_thread

DEFAULT_ALGORITHMS = ("ES384", "RS384")
"""The algorithms CDS Hooks 2.0 recommends."""
ASYMMETRIC_ALGORITHMS = frozenset({"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
"""The only algorithms a trust file may allow: `none` and HMAC (HS*) are forbidden by CDS Hooks."""
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MIN_RSA_BITS = 2048
REFETCH_INTERVAL_SECONDS = 10.0
"""At most one JWK Set fetch per URL in this many seconds for unknown `kid`s (a token cannot make us hammer the EHR)."""
MAX_JWKS_BYTES = 256_000
JWKS_TIMEOUT_SECONDS = 5.0
REPLAY_LIMIT = 200_000
"""jti values remembered at once; each is kept only until its token expires."""

REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")
"""The claims CDS Hooks requires in every token."""

JwksFetcher = Callable[[str], Awaitable[dict]]
"""Fetch a JWK Set (a JSON object with `keys`) from a URL; raise on any failure."""


class AuthError(Exception):
    """A call whose JWT is missing or not trusted: answered 401 with this one-line reason."""


class TrustError(ValueError):
    """A trust file that cannot be used: the message names the file and the problem."""


@dataclass(frozen=True)
class Issuer:
    """An EHR (or its identity provider) the service trusts."""

    iss: str
    """The `iss` claim its tokens carry, exactly."""
    jwks_url: str
    """Where its JWK Set (public keys) is published."""
    jku: tuple[str, ...] = ()
    """Other JWK Set URLs its tokens may name in a `jku` header (`jwks_url` always may)."""


@dataclass(frozen=True)
class Trust:
    """What the service trusts, usually read from the `--trust` file (`load_trust`)."""

    issuers: tuple[Issuer, ...] = ()
    """The EHRs allowed to call; empty means every hook call is refused (401)."""
    service_urls: tuple[str, ...] = ()
    """The base URLs EHRs call this service at (`https://cds.example.org`); `aud` must be one plus the path."""
    fhir_servers: tuple[str, ...] = ()
    """`fhirServer` base URLs the service may read missing prefetch from (origin and path prefix)."""
    hosts: tuple[str, ...] = ()
    """Host header names accepted; empty: the hosts of `service_urls`."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call (CORS); empty: CORS off."""
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    """Signing algorithms accepted (asymmetric only)."""
    leeway_seconds: int = 30
    """Clock skew allowed on `exp` and `iat`."""
    max_lifetime_seconds: int = 600
    """Longest `exp - iat` accepted (a token is remembered for replay until it expires)."""
    jwks_ttl_seconds: int = 300
    """How long a fetched JWK Set is used before it is fetched again."""

    def __post_init__(self) -> None:
        bad = [a for a in self.algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if bad:
            raise TrustError(f"algorithm {bad[0]!r} is not allowed: CDS Hooks forbids 'none' and HMAC; "
                             f"use asymmetric ones such as {', '.join(DEFAULT_ALGORITHMS)}")
        if not self.algorithms:
            raise TrustError("algorithms is empty: no token could be accepted")
        if self.issuers and not self.service_urls:
            raise TrustError("service_urls is required with issuers: a token's aud must equal the URL it called")
        for url in self.service_urls + self.fhir_servers:
            _check_url(url)
        for issuer in self.issuers:
            for url in (issuer.jwks_url, *issuer.jku):
                _check_url(url, https_unless_loopback=True)

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        """Host header names accepted: `hosts`, else the host of each service URL."""
        if self.hosts:
            return tuple(h.lower() for h in self.hosts)
        return tuple(dict.fromkeys(_host_header(u) for u in self.service_urls))

    def issuer(self, iss: str) -> Issuer | None:
        """The trusted issuer with this `iss`, if any."""
        return next((i for i in self.issuers if i.iss == iss), None)


def _check_url(url: str, *, https_unless_loopback: bool = False) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TrustError(f"{url!r} is not an http(s) URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise TrustError(f"{url!r}: give a plain base URL (no user, query or fragment)")
    if https_unless_loopback and parts.scheme != "https" and not is_loopback(parts.hostname):
        raise TrustError(f"{url!r}: a JWK Set must be fetched over https (http only on loopback)")


def _host_header(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return parts.netloc.lower()


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_TRUST_KEYS = {"issuers", "service_urls", "fhir_servers", "hosts", "cors_origins", "algorithms", "leeway_seconds",
               "max_lifetime_seconds", "jwks_ttl_seconds"}


def load_trust(path: str | Path) -> Trust:
    """Read a trust file (TOML, or JSON when the name ends in .json); raises `TrustError` naming the problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text) if path.suffix.lower() == ".json" else tomllib.loads(text)
    except OSError as exc:
        raise TrustError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise TrustError(f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'TOML'} "
                         f"({str(exc).splitlines()[0]})") from None
    try:
        return trust_from_dict(doc)
    except TrustError as exc:
        raise TrustError(f"{path}: {exc}") from None


def trust_from_dict(doc: Any) -> Trust:
    """A `Trust` from the parsed trust file; raises `TrustError` for unknown keys or wrong types."""
    if not isinstance(doc, dict):
        raise TrustError("must be a table/object")
    unknown = sorted(set(doc) - _TRUST_KEYS)
    if unknown:
        raise TrustError(f"unknown key {unknown[0]!r} (known: {', '.join(sorted(_TRUST_KEYS))})")

    def strings(name: str, value: Any) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise TrustError(f"{name} must be a list of strings")
        return tuple(value)

    def number(name: str, default: int) -> int:
        value = doc.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise TrustError(f"{name} must be a whole number of seconds")
        return value

    issuers = []
    raw_issuers = doc.get("issuers", [])
    if not isinstance(raw_issuers, list):
        raise TrustError("issuers must be a list of tables ([[issuers]] with iss and jwks_url)")
    for n, entry in enumerate(raw_issuers):
        if not isinstance(entry, dict) or not isinstance(entry.get("iss"), str) \
                or not isinstance(entry.get("jwks_url"), str):
            raise TrustError(f"issuers[{n}] needs iss and jwks_url (strings)")
        extra = sorted(set(entry) - {"iss", "jwks_url", "jku"})
        if extra:
            raise TrustError(f"issuers[{n}]: unknown key {extra[0]!r} (known: iss, jwks_url, jku)")
        issuers.append(Issuer(entry["iss"], entry["jwks_url"], strings(f"issuers[{n}].jku", entry.get("jku", []))))
    if len({i.iss for i in issuers}) != len(issuers):
        raise TrustError("an iss is listed twice in issuers")
    return Trust(
        issuers=tuple(issuers),
        service_urls=tuple(u.rstrip("/") for u in strings("service_urls", doc.get("service_urls", []))),
        fhir_servers=strings("fhir_servers", doc.get("fhir_servers", [])),
        hosts=strings("hosts", doc.get("hosts", [])),
        cors_origins=strings("cors_origins", doc.get("cors_origins", [])),
        algorithms=strings("algorithms", doc.get("algorithms", list(DEFAULT_ALGORITHMS))),
        leeway_seconds=number("leeway_seconds", 30),
        max_lifetime_seconds=number("max_lifetime_seconds", 600),
        jwks_ttl_seconds=number("jwks_ttl_seconds", 300),
    )


# --- verifying a call's JWT ----------------------------------------------------------------------


@dataclass
class _KeySet:
    fetched: float
    keys: dict[str, dict]
    """kid → the JWK as published."""


@dataclass(frozen=True)
class Caller:
    """A verified EHR call: who sent it."""

    iss: str
    """The trusted issuer."""
    tenant: str | None = None
    """The `tenant` claim (the healthcare organisation), when given."""
    claims: dict = field(default_factory=dict, compare=False, repr=False)


class Authenticator:
    """Verifies CDS Hooks bearer JWTs against a `Trust`; one per app (it holds the JWK and replay caches)."""

    def __init__(self, trust: Trust, fetch_jwks: JwksFetcher | None = None, clock: Callable[[], float] = time.time):
        self.trust = trust
        self.fetch_jwks = fetch_jwks or fetch_jwks_https
        self.clock = clock
        self._sets: dict[str, _KeySet] = {}
        self._last_try: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._seen: OrderedDict[tuple[str, str], float] = OrderedDict()

    async def verify(self, authorization: str | None, path: str) -> Caller:
        """The caller behind an `Authorization` header value for a call to `path`; raises `AuthError`."""
        import jwt

        if not authorization:
            raise AuthError("no bearer token: CDS Hooks calls must send Authorization: Bearer <JWT>")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("the Authorization header is not 'Bearer <JWT>'")
        if not self.trust.issuers:
            raise AuthError("no EHR is trusted: start the service with --trust FILE naming its issuers")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise AuthError("the bearer token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in self.trust.algorithms:
            raise AuthError(f"JWT alg {_shown(alg)} is not accepted (accepted: {', '.join(self.trust.algorithms)})")
        if str(header.get("typ", "")).upper() != "JWT":
            raise AuthError("JWT header typ must be 'JWT'")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("JWT header has no kid (the key that signed it)")
        iss = unverified.get("iss")
        issuer = self.trust.issuer(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise AuthError(f"JWT iss {_shown(iss)} is not a trusted issuer")
        jku = header.get("jku")
        if jku is not None and jku != issuer.jwks_url and jku not in issuer.jku:
            raise AuthError(f"JWT jku {_shown(jku)} is not on the list for issuer {_shown(iss)}")
        jwk = await self._key(jku or issuer.jwks_url, kid)
        key = _public_key(jwk, alg, kid)
        audience = [base + path for base in self.trust.service_urls]
        def check() -> dict:
            return jwt.decode(token, key, algorithms=[alg], audience=audience, issuer=issuer.iss,
                              leeway=self.trust.leeway_seconds, options={"require": list(REQUIRED_CLAIMS)})

        try:
            # The signature check is a few milliseconds of CPU: in a worker thread, off the event loop.
            claims = await anyio.to_thread.run_sync(check)
        except jwt.ExpiredSignatureError:
            raise AuthError("JWT has expired (exp)") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("JWT is not valid yet (iat or nbf in the future)") from None
        except jwt.InvalidAudienceError:
            raise AuthError(f"JWT aud is not this service URL ({audience[0]})") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"JWT has no {exc.claim} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthError("JWT signature does not verify with the issuer's key") from None
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"JWT rejected: {str(exc).splitlines()[0][:120]}") from None
        if claims["exp"] - claims["iat"] > self.trust.max_lifetime_seconds:
            raise AuthError(f"JWT lives longer than {self.trust.max_lifetime_seconds} s (exp - iat)")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("JWT jti must be a non-empty string")
        self._remember(issuer.iss, jti, float(claims["exp"]) + self.trust.leeway_seconds)
        tenant = claims.get("tenant")
        return Caller(issuer.iss, tenant if isinstance(tenant, str) else None, claims)

    def _remember(self, iss: str, jti: str, until: float) -> None:
        now = self.clock()
        seen = self._seen
        while seen:  # drop the expired (entries are added in about expiry order)
            first = next(iter(seen))
            if seen[first] > now:
                break
            del seen[first]
        hit = seen.get((iss, jti))
        if hit is not None and hit > now:
            raise AuthError("JWT jti was already used (a replayed token)")
        if len(seen) >= REPLAY_LIMIT:
            # Forgetting an unexpired jti would let it be replayed: refuse instead.
            raise AuthError("too many unexpired tokens to remember; try again shortly")
        seen[(iss, jti)] = until

    async def _key(self, url: str, kid: str) -> dict:
        """The JWK `kid` from the set at `url`: cached; refetched when stale, or once when `kid` is unknown."""
        now = self.clock()
        cached = self._sets.get(url)
        fresh = cached is not None and now - cached.fetched < self.trust.jwks_ttl_seconds
        if fresh and cached is not None and kid in cached.keys:
            return cached.keys[kid]
        lock = self._locks.setdefault(url, asyncio.Lock())
        async with lock:
            cached = self._sets.get(url)
            now = self.clock()
            stale = cached is None or now - cached.fetched >= self.trust.jwks_ttl_seconds
            unknown = cached is not None and kid not in cached.keys
            recently = now - self._last_try.get(url, -1e18) < REFETCH_INTERVAL_SECONDS
            if stale or (unknown and not recently):
                self._last_try[url] = now
                try:
                    doc = await self.fetch_jwks(url)
                    cached = self._sets[url] = _KeySet(now, _keys_by_kid(doc))
                except Exception as exc:  # an unreachable or broken JWK Set: keep a fresh-enough old one
                    if cached is None or stale:
                        raise AuthError(f"the issuer's JWK Set could not be read ({type(exc).__name__})") from None
        if cached is None or kid not in cached.keys:
            raise AuthError(f"JWT kid {_shown(kid)} is not in the issuer's JWK Set")
        return cached.keys[kid]


def _keys_by_kid(doc: Any) -> dict[str, dict]:
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("not a JWK Set")
    return {k["kid"]: k for k in doc["keys"] if isinstance(k, dict) and isinstance(k.get("kid"), str)}


def _public_key(jwk: dict, alg: str, kid: str):
    """The verification key of `jwk` for `alg`, refusing a key meant for another algorithm or too weak."""
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if jwk.get("alg") not in (None, alg):
        raise AuthError(f"key {_shown(kid)} is for {_shown(jwk.get('alg'))}, not {alg}")
    if jwk.get("use") not in (None, "sig"):
        raise AuthError(f"key {_shown(kid)} is not a signing key (use {_shown(jwk.get('use'))})")
    if "d" in jwk or "k" in jwk:
        raise AuthError(f"key {_shown(kid)} in the JWK Set is private or symmetric; refusing it")
    try:
        key = jwt.PyJWK(jwk, algorithm=alg).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
        raise AuthError(f"key {_shown(kid)} cannot verify {alg}") from None
    if alg.startswith("ES"):
        if not isinstance(key, ec.EllipticCurvePublicKey) or jwk.get("crv") != _CURVES[alg]:
            raise AuthError(f"key {_shown(kid)} is not an EC {_CURVES[alg]} public key, as {alg} needs")
    elif not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        raise AuthError(f"key {_shown(kid)} is not an RSA public key of at least {MIN_RSA_BITS} bits")
    return key


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


async def fetch_jwks_https(url: str) -> dict:
    """Fetch a JWK Set: no redirects, a 5 s deadline, at most 256 kB."""
    import httpx2

    async with asyncio.timeout(JWKS_TIMEOUT_SECONDS), \
            httpx2.AsyncClient(follow_redirects=False, timeout=JWKS_TIMEOUT_SECONDS) as client, \
            client.stream("GET", url, headers={"Accept": "application/json"}) as response:
        if response.status_code != 200:
            raise ValueError(f"HTTP {response.status_code}")
        data = b""
        async for chunk in response.aiter_bytes():
            data += chunk
            if len(data) > MAX_JWKS_BYTES:
                raise ValueError("JWK Set too large")
    doc = json.loads(data)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    return doc
