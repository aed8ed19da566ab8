"""Signing CDS Hooks JWTs in tests: real keys (EC P-384, RSA 2048) generated here, an EHR's JWK Set
served by a fake fetcher (no network), and a TestClient that signs every POST the way an EHR does."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from screener.service.auth import Issuer, Trust

SERVICE_URL = "https://cds.example.org"
ISSUER = "https://ehr.example.org"
JWKS_URL = "https://ehr.example.org/.well-known/jwks.json"
FHIR_SERVER = "https://fhir.example.org/r4"


@dataclass
class Keys:
    """An EHR's signing keys and the JWK Set it publishes."""

    ec: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP384R1()))
    rsa: rsa.RSAPrivateKey = field(default_factory=lambda: rsa.generate_private_key(public_exponent=65537,
                                                                                   key_size=2048))
    ec_kid: str = "ec-1"
    rsa_kid: str = "rsa-1"

    def jwks(self) -> dict:
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec.public_key()))
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa.public_key()))
        return {"keys": [{**ec_jwk, "kid": self.ec_kid, "use": "sig", "alg": "ES384"},
                         {**rsa_jwk, "kid": self.rsa_kid, "use": "sig", "alg": "RS384"}]}

    def sign(self, aud: str | list[str], *, alg: str = "ES384", kid: str | None = None, iss: str = ISSUER,
             lifetime: int = 300, iat_offset: int = 0, headers: dict | None = None, drop: tuple[str, ...] = (),
             **claims) -> str:
        """A token as an EHR signs it; `drop` leaves claims out, `claims` adds or replaces them."""
        now = int(time.time()) + iat_offset
        payload = {"iss": iss, "aud": aud, "iat": now, "exp": now + lifetime, "jti": str(uuid.uuid4()), **claims}
        for name in drop:
            payload.pop(name, None)
        key = self.ec if alg.startswith("ES") else self.rsa
        header = {"kid": kid or (self.ec_kid if alg.startswith("ES") else self.rsa_kid), "typ": "JWT",
                  **(headers or {})}
        return jwt.encode(payload, key, algorithm=alg, headers=header)


class FakeJwks:
    """A JWKS fetcher serving published sets from memory and counting the fetches."""

    def __init__(self, sets: dict[str, dict]):
        self.sets = sets
        self.fetches: list[str] = []

    async def __call__(self, url: str) -> dict:
        self.fetches.append(url)
        if url not in self.sets:
            raise OSError("unreachable")
        return self.sets[url]


def trust(**overrides) -> Trust:
    """The trust a test service starts with: one EHR, the service's URL, one FHIR server."""
    values = {"issuers": (Issuer(ISSUER, JWKS_URL),), "service_urls": (SERVICE_URL,),
              "fhir_servers": (FHIR_SERVER,), **overrides}
    return Trust(**values)


class SignedClient(TestClient):
    """A TestClient that sends every POST with a fresh JWT for the URL it calls, as an EHR does."""

    def __init__(self, app, keys: Keys, **kw):
        super().__init__(app, base_url=SERVICE_URL, **kw)
        self.keys = keys

    def post(self, url, *args, headers=None, **kw):  # type: ignore[override]
        signed = {"Authorization": f"Bearer {self.keys.sign(SERVICE_URL + str(url))}"}
        return super().post(url, *args, headers={**signed, **(headers or {})}, **kw)
