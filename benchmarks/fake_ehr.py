"""A stand-in EHR for the service benchmark and the CI smoke test: an EC P-384 signing key generated
at start, its JWK Set served on a loopback port, a trust file naming it, and CDS Hooks JWTs signed
the way an EHR signs them (CDS Hooks 2.0, "Trusting CDS Clients").

    ehr = FakeEhr().start()
    trust = ehr.write_trust(tmp_dir, service_url="http://127.0.0.1:8765")
    token = ehr.sign("http://127.0.0.1:8765/cds-services/screener-order-sign")
    ehr.stop()
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ISSUER = "https://ehr.bench.example"


class FakeEhr:
    """An EHR's key pair and its published JWK Set (over plain HTTP on loopback, which the trust file allows)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**jwk, "kid": "bench-1", "use": "sig", "alg": "ES384"}]}
        self.server: ThreadingHTTPServer | None = None

    def start(self) -> FakeEhr:
        """Serve the JWK Set at http://127.0.0.1:PORT/jwks.json in a background thread."""
        body = json.dumps(self.jwks).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def jwks_url(self) -> str:
        assert self.server is not None, "start() first"
        return f"http://127.0.0.1:{self.server.server_port}/jwks.json"

    def write_trust(self, folder: str | Path, service_url: str, fhir_servers: tuple[str, ...] = ()) -> Path:
        """A trust file naming this EHR and the service's URL; returns its path."""
        path = Path(folder) / "trust.json"
        path.write_text(json.dumps({"service_urls": [service_url], "fhir_servers": list(fhir_servers),
                                    "issuers": [{"iss": ISSUER, "jwks_url": self.jwks_url}]}))
        return path

    def sign(self, aud: str) -> str:
        """A fresh five-minute ES384 token for a call to `aud` (a new jti each time)."""
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self.key, algorithm="ES384", headers={"kid": "bench-1", "typ": "JWT"})

    def stop(self) -> None:
        """Stop serving the JWK Set."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
