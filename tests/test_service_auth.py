"""The CDS Hooks service authenticates the EHR (CDS Hooks 2.0, "Trusting CDS Clients"): real keys, real tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest
from fastapi.testclient import TestClient

from cds_auth import ISSUER, JWKS_URL, SERVICE_URL, FakeJwks, Keys, SignedClient, trust
from fhir_fixtures import TODAY, bundle, patient, request
from screener.service import create_app
from screener.service.auth import Authenticator, AuthError, Issuer, Trust, TrustError, load_trust

SIGN = "/cds-services/screener-order-sign"
AUD = SERVICE_URL + SIGN


def body(instance: str = "h1") -> dict:
    draft = request("d1", "carisoprodol 350 mg qid", status="draft")
    searchset = bundle(kind="searchset")
    return {"hook": "order-sign", "hookInstance": instance,
            "context": {"userId": "Practitioner/1", "patientId": "p1",
                        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]}},
            "prefetch": {"patient": patient("p1", "1990-01-01"),
                         "medicationRequests": bundle(request("m1", "Xanax 0.5 mg"), kind="searchset"),
                         "medicationStatements": searchset, "conditions": searchset, "allergies": searchset}}


@pytest.fixture(scope="module")
def keys():
    return Keys()


@pytest.fixture
def jwks(keys):
    return FakeJwks({JWKS_URL: keys.jwks()})


@pytest.fixture
def client(kb, jwks):
    with TestClient(create_app(kb, today=TODAY, trust=trust(), jwks_fetcher=jwks), base_url=SERVICE_URL) as c:
        yield c


def post(client, token: str | None, path: str = SIGN, scheme: str = "Bearer", **kw):
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    return client.post(path, json=kw.pop("json", body()), headers=headers, **kw)


def refused(response, reason: str) -> None:
    """401, the one-line reason exactly, no card, and the header that names the scheme."""
    assert response.status_code == 401, response.text
    assert response.json() == {"error": reason}
    assert "\n" not in reason
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_a_token_signed_by_the_trusted_ehr_is_accepted(client, keys):
    for alg in ("ES384", "RS384"):
        response = post(client, keys.sign(AUD, alg=alg), json=body(f"call-{alg}"))
        assert response.status_code == 200, response.text
        assert any("alprazolam" in c["summary"] for c in response.json()["cards"])


def test_aud_may_be_a_list_holding_the_url_called(client, keys):
    assert post(client, keys.sign([AUD, "https://other.example/x"])).status_code == 200


def unsigned(header: dict, payload: dict) -> str:
    def part(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
    return f"{part(header)}.{part(payload)}."


def claims(**extra) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "aud": AUD, "iat": now, "exp": now + 300, "jti": "j-unsigned", **extra}


@pytest.mark.parametrize("make, reason", [
    (lambda k: None, "no bearer token: CDS Hooks calls must send Authorization: Bearer <JWT>"),
    (lambda k: "not-a-jwt", "the bearer token is not a well-formed JWT"),
    (lambda k: unsigned({"alg": "none", "typ": "JWT", "kid": "ec-1"}, claims()),
     "JWT alg 'none' is not accepted (accepted: ES384, RS384)"),
    # HS256 "signed" with the EHR's public key: the classic algorithm-confusion attack.
    (lambda k: jwt.encode(claims(), "a shared secret of thirty-two bytes!", algorithm="HS256",
                          headers={"kid": "ec-1"}),
     "JWT alg 'HS256' is not accepted (accepted: ES384, RS384)"),
    (lambda k: k.sign(AUD, alg="RS256"), "JWT alg 'RS256' is not accepted (accepted: ES384, RS384)"),
    (lambda k: Keys().sign(AUD), "JWT signature does not verify with the issuer's key"),
    (lambda k: k.sign(SERVICE_URL + "/cds-services/screener-order-select"),
     "JWT aud is not this service URL (https://cds.example.org/cds-services/screener-order-sign)"),
    (lambda k: k.sign("https://evil.example/cds-services/screener-order-sign"),
     "JWT aud is not this service URL (https://cds.example.org/cds-services/screener-order-sign)"),
    (lambda k: k.sign(AUD, iat_offset=-1000, lifetime=300), "JWT has expired (exp)"),
    (lambda k: k.sign(AUD, iat_offset=600), "JWT is not valid yet (iat or nbf in the future)"),
    (lambda k: k.sign(AUD, lifetime=7200), "JWT lives longer than 600 s (exp - iat)"),
    (lambda k: k.sign(AUD, iss="https://evil.example"), "JWT iss 'https://evil.example' is not a trusted issuer"),
    (lambda k: k.sign(AUD, drop=("jti",)), "JWT has no jti claim"),
    (lambda k: k.sign(AUD, drop=("exp",)), "JWT has no exp claim"),
    (lambda k: k.sign(AUD, drop=("iat",)), "JWT has no iat claim"),
    (lambda k: k.sign(AUD, kid="ec-2"), "JWT kid 'ec-2' is not in the issuer's JWK Set"),
    (lambda k: k.sign(AUD, headers={"typ": "at+jwt"}), "JWT header typ must be 'JWT'"),
    (lambda k: k.sign(AUD, headers={"jku": "https://evil.example/jwks"}),
     "JWT jku 'https://evil.example/jwks' is not on the list for issuer 'https://ehr.example.org'"),
    (lambda k: k.sign(AUD, alg="RS384", kid="ec-1"), "key 'ec-1' is for 'ES384', not RS384"),
])
def test_every_bad_token_is_401_with_one_line_and_no_card(client, keys, make, reason):
    refused(post(client, make(keys)), reason)


def test_a_token_without_kid_is_refused(client, keys):
    token = jwt.encode(claims(jti="no-kid"), keys.ec, algorithm="ES384", headers={"typ": "JWT"})
    refused(post(client, token), "JWT header has no kid (the key that signed it)")


def test_another_scheme_is_refused(client, keys):
    refused(post(client, keys.sign(AUD), scheme="Basic"), "the Authorization header is not 'Bearer <JWT>'")


def test_a_replayed_token_is_refused(client, keys):
    token = keys.sign(AUD)
    assert post(client, token).status_code == 200
    refused(post(client, token, json=body("h2")), "JWT jti was already used (a replayed token)")


def test_a_refused_call_is_not_screened_and_its_body_is_not_read(client, keys, caplog):
    with caplog.at_level("DEBUG"):
        response = client.post(SIGN, content=b"{ not json at all", headers={"Content-Type": "application/json"})
    refused(response, "no bearer token: CDS Hooks calls must send Authorization: Bearer <JWT>")
    assert "service=" not in caplog.text  # never reached the hook call


def test_feedback_needs_a_token_and_discovery_does_not(client, keys):
    feedback = {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2025-06-01T12:00:00Z"}]}
    refused(client.post(SIGN + "/feedback", json=feedback),
            "no bearer token: CDS Hooks calls must send Authorization: Bearer <JWT>")
    signed = keys.sign(AUD + "/feedback")
    assert client.post(SIGN + "/feedback", json=feedback, headers={"Authorization": f"Bearer {signed}"}).json() == {}
    assert client.get("/cds-services").status_code == 200


def test_without_trust_every_call_is_refused(kb, keys):
    with TestClient(create_app(kb, today=TODAY)) as c:
        refused(post(c, keys.sign(AUD)), "no EHR is trusted: start the service with --trust FILE naming its issuers")
        assert c.get("/cds-services").status_code == 200


def test_the_development_flag_turns_authentication_off(kb):
    with TestClient(create_app(kb, today=TODAY, insecure_no_auth=True)) as c:
        assert post(c, None).status_code == 200


def test_a_jku_on_the_issuers_list_is_where_the_key_is_read(kb, keys):
    other = "https://keys.ehr.example.org/jwks"
    jwks = FakeJwks({other: keys.jwks()})
    app = create_app(kb, today=TODAY, jwks_fetcher=jwks, trust=trust(issuers=(Issuer(ISSUER, JWKS_URL, (other,)),)))
    with TestClient(app, base_url=SERVICE_URL) as c:
        assert post(c, keys.sign(AUD, headers={"jku": other})).status_code == 200
    assert jwks.fetches == [other]


def test_the_jwk_set_is_cached(kb, keys):
    jwks = FakeJwks({JWKS_URL: keys.jwks()})
    with TestClient(create_app(kb, today=TODAY, trust=trust(), jwks_fetcher=jwks), base_url=SERVICE_URL) as c:
        for n in range(3):
            assert post(c, keys.sign(AUD), json=body(f"a{n}")).status_code == 200
    assert jwks.fetches == [JWKS_URL]


def test_the_jwk_set_is_fetched_again_once_for_a_new_kid_and_after_its_lifetime(keys):
    now = [1000.0]
    published = keys.jwks()
    jwks = FakeJwks({JWKS_URL: published})
    auth = Authenticator(trust(jwks_ttl_seconds=300), jwks, clock=lambda: now[0])

    def verify(signer=keys, **kw):
        return asyncio.run(auth.verify(f"Bearer {signer.sign(AUD, **kw)}", SIGN))

    verify()
    now[0] += 60
    verify()
    assert len(jwks.fetches) == 1  # cached
    rotated = Keys(ec_kid="ec-2")
    published["keys"].append(rotated.jwks()["keys"][0])  # the EHR publishes its new key
    assert verify(rotated).iss == ISSUER
    assert len(jwks.fetches) == 2  # fetched once more for the unknown kid
    with pytest.raises(AuthError, match="JWT kid 'ec-9' is not in the issuer's JWK Set"):
        verify(kid="ec-9")
    assert len(jwks.fetches) == 2  # an unknown kid right after a fetch does not fetch again
    now[0] += 301
    verify()
    assert len(jwks.fetches) == 3  # the set's lifetime is over


def test_an_unreachable_jwk_set_is_401(kb, keys):
    with TestClient(create_app(kb, today=TODAY, trust=trust(), jwks_fetcher=FakeJwks({})),
                    base_url=SERVICE_URL) as c:
        refused(post(c, keys.sign(AUD)), "the issuer's JWK Set could not be read (OSError)")


def test_a_weak_key_in_the_jwk_set_is_refused(kb):
    import warnings

    from cryptography.hazmat.primitives.asymmetric import rsa

    keys = Keys(rsa=rsa.generate_private_key(public_exponent=65537, key_size=1024))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns when signing with a short key: that is the point here
        token = keys.sign(AUD, alg="RS384")
    with TestClient(create_app(kb, today=TODAY, trust=trust(), jwks_fetcher=FakeJwks({JWKS_URL: keys.jwks()})),
                    base_url=SERVICE_URL) as c:
        refused(post(c, token), "key 'rsa-1' is not an RSA public key of at least 2048 bits")


def test_a_private_key_published_by_mistake_is_refused(kb, keys):
    published = keys.jwks()
    published["keys"][0]["d"] = "AAAA"
    with TestClient(create_app(kb, today=TODAY, trust=trust(), jwks_fetcher=FakeJwks({JWKS_URL: published})),
                    base_url=SERVICE_URL) as c:
        refused(post(c, keys.sign(AUD)), "key 'ec-1' in the JWK Set is private or symmetric; refusing it")


def test_the_host_header_is_checked(kb, keys):
    with TestClient(create_app(kb, trust=trust(), jwks_fetcher=FakeJwks({})), base_url="https://evil.example") as c:
        response = c.get("/cds-services")
        assert response.status_code == 403
        assert response.json()["error"].startswith("Host header not accepted: this service answers to ")
    with SignedClient(create_app(kb, trust=trust(), jwks_fetcher=FakeJwks({JWKS_URL: keys.jwks()})), keys) as c:
        assert c.get("/cds-services").status_code == 200


# --- the trust file -------------------------------------------------------------------------------------


TRUST_TOML = """\
service_urls = ["https://cds.example.org"]
fhir_servers = ["https://fhir.example.org/r4"]

[[issuers]]
iss = "https://ehr.example.org"
jwks_url = "https://ehr.example.org/.well-known/jwks.json"
"""


def test_the_trust_file_is_read(tmp_path):
    path = tmp_path / "trust.toml"
    path.write_text(TRUST_TOML)
    loaded = load_trust(path)
    assert loaded == trust()
    assert loaded.allowed_hosts == ("cds.example.org",)
    as_json = tmp_path / "trust.json"
    as_json.write_text(json.dumps({"service_urls": ["https://cds.example.org/"],
                                   "issuers": [{"iss": ISSUER, "jwks_url": JWKS_URL}],
                                   "fhir_servers": ["https://fhir.example.org/r4"]}))
    assert load_trust(as_json) == trust()


@pytest.mark.parametrize("text, problem", [
    ('algorithms = ["HS256"]\n' + TRUST_TOML,
     "algorithm 'HS256' is not allowed: CDS Hooks forbids 'none' and HMAC; use asymmetric ones such as ES384, RS384"),
    ('algorithms = ["none"]\n' + TRUST_TOML,
     "algorithm 'none' is not allowed: CDS Hooks forbids 'none' and HMAC; use asymmetric ones such as ES384, RS384"),
    (TRUST_TOML.replace('service_urls = ["https://cds.example.org"]', ""),
     "service_urls is required with issuers: a token's aud must equal the URL it called"),
    (TRUST_TOML.replace("https://ehr.example.org/.well-known", "http://ehr.example.org/.well-known"),
     "'http://ehr.example.org/.well-known/jwks.json': a JWK Set must be fetched over https (http only on loopback)"),
    ("issuer = 1\n" + TRUST_TOML, "unknown key 'issuer' (known: algorithms, cors_origins, fhir_servers, hosts, "
                                  "issuers, jwks_ttl_seconds, leeway_seconds, max_lifetime_seconds, service_urls)"),
    ("service_urls = [", None),
])
def test_a_bad_trust_file_is_one_line_naming_the_file(tmp_path, text, problem):
    path = tmp_path / "trust.toml"
    path.write_text(text)
    with pytest.raises(TrustError) as caught:
        load_trust(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    if problem:
        assert message == f"{path}: {problem}"


def test_symmetric_algorithms_cannot_be_configured_in_code():
    with pytest.raises(TrustError):
        Trust(algorithms=("HS384",))


def test_the_authenticator_raises_autherror_for_no_token():
    with pytest.raises(AuthError):
        asyncio.run(Authenticator(trust()).verify(None, SIGN))


# --- screener serve ---------------------------------------------------------------------------------------


@pytest.fixture
def served(monkeypatch):
    import uvicorn

    calls: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.update(app=app, **kw))
    return calls


def test_serve_refuses_the_development_flag_off_loopback(runner, served):
    from screener.cli import cli

    result = runner.invoke(cli, ["serve", "--insecure-no-auth", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--insecure-no-auth is allowed only on a loopback address, not 0.0.0.0" in result.stderr
    assert not served


def test_serve_warns_at_start_up_without_authentication(runner, served):
    from screener.cli import cli

    result = runner.invoke(cli, ["serve", "--insecure-no-auth", "--port", "9001"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[1] == (
        "WARNING: --insecure-no-auth: hook calls are accepted without a JWT; any local program can call this "
        "service. For development only.")
    with TestClient(served["app"], base_url="http://localhost:9001") as c:
        assert post(c, None).status_code == 200
    with TestClient(served["app"], base_url="http://rebound.example:9001") as c:  # DNS rebinding
        assert c.get("/cds-services").status_code == 403


def test_serve_with_a_trust_file(runner, served, tmp_path, keys, monkeypatch):
    from screener.cli import cli
    from screener.service import auth

    path = tmp_path / "trust.toml"
    path.write_text(TRUST_TOML)
    monkeypatch.setattr(auth, "fetch_jwks_https", FakeJwks({JWKS_URL: keys.jwks()}))
    result = runner.invoke(cli, ["serve", "--trust", str(path)])
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.stderr
    with TestClient(served["app"], base_url=SERVICE_URL) as c:
        refused(post(c, None), "no bearer token: CDS Hooks calls must send Authorization: Bearer <JWT>")
        assert post(c, keys.sign(AUD)).status_code == 200


def test_serve_without_trust_says_calls_are_refused(runner, served):
    from screener.cli import cli

    result = runner.invoke(cli, ["serve"])
    assert result.exit_code == 0
    assert "no --trust file names an EHR, so every hook call is refused (401)" in result.stderr


def test_serve_with_a_bad_trust_file_is_one_line(runner, served, tmp_path):
    from screener.cli import cli

    path = tmp_path / "trust.toml"
    path.write_text('algorithms = ["HS256"]\n')
    result = runner.invoke(cli, ["serve", "--trust", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (f"Error: --trust: {path}: algorithm 'HS256' is not allowed: CDS Hooks forbids 'none' "
                             "and HMAC; use asymmetric ones such as ES384, RS384\n")


def test_the_readme_trust_file_example_is_valid(tmp_path):
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "trust.toml"
    path.write_text(block)
    assert load_trust(path) == trust()
