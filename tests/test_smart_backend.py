"""SMART Backend Services against the real server: a partner hospital's system signs a JWT with
its own key, gets a token, and reads only what its scopes and its hospital's consults allow."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time

import orjson
from aiohttp import web
from fhirpy import AsyncFHIRClient
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey
from sqlmodel import select

from ehr import store
from telemed.accounts import add_org, add_user
from telemed.clients import add_client
from telemed.models import AuditEntry, OrgKind, Role
from telemed.policy import HOSPITAL_SYSTEM, Capability, may
from telemed.security import Principal
from tests.conftest import both_databases
from tests.ehr_support import condition, fhir, ids, observation, open_consult
from tests.test_fhir_bulk_export import finished, kick_off, path_of

TOKEN = "/api/auth/smart/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
READS = "system/Observation.read system/Patient.rs"


def rsa_key(kid: str = "k1") -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


def public_jwks(*keys) -> str:
    return orjson.dumps({"keys": [k.as_dict(private=False) for k in keys]}).decode()


def assertion(key, client_id: str, aud: str, *, kid: str | None = None, alg: str = "RS384", expires_in: int = 240,
              jti: str | None = None, **header) -> str:
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": int(time.time()) + expires_in,
              "jti": jti or secrets.token_hex(12)}
    return jwt.encode({"alg": alg, "kid": kid or key.kid, **header}, claims, key, algorithms=[alg])


async def ask(client, signed: str, scope: str = READS):
    response = await client.post(TOKEN, data={"grant_type": "client_credentials", "scope": scope,
                                              "client_assertion_type": ASSERTION_TYPE, "client_assertion": signed})
    return response.status, await response.json()


def token_url(client) -> str:
    return str(client.make_url(TOKEN))


def seed_consults(session, world) -> dict[str, str]:
    """Hospital 1's consult on fac-a-p1 shares one Observation and one Condition; another
    hospital's consult on fac-b-p1 shares one Observation."""
    made = {
        "shared": store.create(session, observation("fac-a-p1", value=80)).id,
        "unshared": store.create(session, observation("fac-a-p1", value=90)).id,
        "condition": store.create(session, condition("fac-a-p1")).id,
        "other": store.create(session, observation("fac-b-p1", value=70)).id,
        "no-consult": store.create(session, observation("fac-a-p2", value=60)).id,
    }
    open_consult(session, "c-1", "fac-a-p1", world.users["spec-2"],
                 shared=(("Observation", made["shared"]), ("Condition", made["condition"])))
    add_org(session, "hosp-2", "Other Hospital", OrgKind.HOSPITAL, "另一医院")
    other = add_user(session, "spec-9", world.password, role=Role.SPECIALIST, org_id="hosp-2", display_name="spec-9",
                     specialty="cardiology")
    open_consult(session, "c-9", "fac-b-p1", other.id, shared=(("Observation", made["other"]),))
    return made


def test_a_hospital_system_may_only_read():
    system = Principal(user_id=0, username="client:x", display_name="x", role=HOSPITAL_SYSTEM, org_id="hosp-1")
    assert [c for c in Capability if may(system, c)] == [Capability.CLINICAL_READ]


@both_databases
async def test_a_signed_client_reads_only_its_hospitals_shares_within_its_scopes(client, context, world):
    made = context.db.call(seed_consults, world)
    key = rsa_key()
    context.db.call(add_client, "hosp1-etl", "Hospital 1 ETL", "hosp-1", READS, jwks=public_jwks(key))

    status, answer = await ask(client, assertion(key, "hosp1-etl", token_url(client)))
    assert status == 200, answer
    assert answer["token_type"] == "bearer" and answer["expires_in"] == 300 and answer["scope"] == READS
    system = {"Authorization": f"Bearer {answer['access_token']}"}

    assert (await fhir(client, "GET", f"/fhir/Observation/{made['shared']}", system))[0] == 200
    assert (await fhir(client, "GET", "/fhir/Patient/fac-a-p1", system))[0] == 200
    for hidden in (f"Observation/{made['unshared']}", f"Observation/{made['other']}", "Patient/fac-b-p1",
                   f"Observation/{made['no-consult']}", "Patient/fac-a-p2"):
        assert (await fhir(client, "GET", f"/fhir/{hidden}", system))[0] == 404, hidden
    _, found, _ = await fhir(client, "GET", "/fhir/Observation", system)
    assert ids(found) == [made["shared"]] and found["total"] == 1
    _, found, _ = await fhir(client, "GET", "/fhir/Observation?patient=fac-a-p1", system)
    assert ids(found) == [made["shared"]]
    _, found, _ = await fhir(client, "GET", "/fhir/Patient", system)
    assert ids(found) == ["fac-a-p1"]

    # Shared with the consult, but outside the token's scopes: refused by type, plainly.
    status, outcome, _ = await fhir(client, "GET", f"/fhir/Condition/{made['condition']}", system)
    assert status == 403 and "system/Condition.r" in outcome["issue"][0]["diagnostics"]
    assert (await fhir(client, "GET", "/fhir/Condition", system))[0] == 403
    _, everything, _ = await fhir(client, "GET", "/fhir/Patient/fac-a-p1/$everything", system)
    assert sorted(e["resource"]["resourceType"] for e in everything["entry"]) == ["Observation", "Patient"]
    _, history, _ = await fhir(client, "GET", "/fhir/_history", system)
    assert {e["resource"]["resourceType"] for e in history["entry"]} == {"Observation", "Patient"}
    assert (await fhir(client, "GET", "/fhir/Organization", system))[0] == 403  # reference data needs its scope too
    status, _, _ = await fhir(client, "POST", "/fhir/Observation", system, observation("fac-a-p1"))
    assert status == 403
    assert (await client.get("/api/me", headers=system)).status == 403  # the FHIR API only

    fhirpy = AsyncFHIRClient(str(client.make_url("/fhir")), authorization=system["Authorization"])
    assert [o["id"] for o in await fhirpy.resources("Observation").fetch_all()] == [made["shared"]]

    # A bulk export holds the same: the shared Observation and its Patient; no Condition (scopes).
    status, _, status_url = await kick_off(client, system)
    assert status == 202
    done = await finished(client, system, path_of(client, status_url))
    assert sorted((o["type"], o["count"]) for o in done["output"]) == [("Observation", 1), ("Patient", 1)]

    trail = context.db.call(lambda s: s.exec(select(AuditEntry).where(AuditEntry.username == "client:hosp1-etl")).all())
    assert any(e.action == "smart.token" and e.outcome == "allowed" for e in trail)
    assert any(e.action == "fhir.read" and e.outcome == "allowed" and e.resource == f"Observation/{made['shared']}"
               for e in trail)
    assert any(e.outcome == "denied" and e.resource == f"Observation/{made['unshared']}" for e in trail)
    assert any(e.outcome == "denied" and "system/Condition.r" in e.reason for e in trail)


@both_databases
async def test_every_bad_assertion_is_refused_and_audited(client, context, world):
    key, stranger = rsa_key(), rsa_key()
    context.db.call(add_client, "hosp1-etl", "Hospital 1 ETL", "hosp-1", READS, jwks=public_jwks(key))
    url = token_url(client)
    refusals = {
        "wrong key": assertion(stranger, "hosp1-etl", url),
        "unknown kid": assertion(stranger, "hosp1-etl", url, kid="k9"),
        "expired": assertion(key, "hosp1-etl", url, expires_in=-5),
        "too long-lived": assertion(key, "hosp1-etl", url, expires_in=3600),
        "another audience": assertion(key, "hosp1-etl", "https://elsewhere.example/token"),
        "unknown client": assertion(key, "nobody", url),
        "HS256": jwt.encode({"alg": "HS256", "kid": "k1"}, {"iss": "hosp1-etl"}, OctKey.import_key("x" * 32),
                            algorithms=["HS256"]),
        "not a JWT": "not.a.jwt",
    }
    for why, signed in refusals.items():
        status, answer = await ask(client, signed)
        assert (status, answer["error"]) == (401, "invalid_client"), why

    once = assertion(key, "hosp1-etl", url, jti="once")
    assert (await ask(client, once))[0] == 200
    status, answer = await ask(client, once)
    assert status == 401 and "already used" in answer["error_description"]

    for scope in ("system/Condition.read", "system/Observation.write", "user/Observation.read", "system/Observation.r?x=1"):
        status, answer = await ask(client, assertion(key, "hosp1-etl", url), scope)
        assert (status, answer["error"]) == (400, "invalid_scope"), scope
    wrong_grant = await client.post(TOKEN, data={"grant_type": "password", "client_assertion_type": ASSERTION_TYPE,
                                                 "client_assertion": assertion(key, "hosp1-etl", url), "scope": READS})
    assert wrong_grant.status == 400 and (await wrong_grant.json())["error"] == "unsupported_grant_type"
    assert (await fhir(client, "GET", "/fhir/Observation", {"Authorization": "Bearer made-up"}))[0] == 401

    denied = context.db.call(lambda s: s.exec(select(AuditEntry).where(AuditEntry.action == "smart.token",
                                                                       AuditEntry.outcome == "denied")).all())
    assert len(denied) == len(refusals) + 1 + 4 + 1
    assert any("already used" in e.reason and e.resource == "client/hosp1-etl" for e in denied)


async def test_keys_from_a_jwks_url_with_es384_and_jku(client, context, world, aiohttp_server):
    key = ECKey.generate_key("P-384", parameters={"kid": "e1"})
    fetched = []

    async def jwks(_request):
        fetched.append(1)
        return web.Response(text=public_jwks(key), content_type="application/json",
                            headers={"Cache-Control": "max-age=600"})
    app = web.Application()
    app.router.add_get("/jwks.json", jwks)
    keys_at = str((await aiohttp_server(app)).make_url("/jwks.json"))
    context.db.call(add_client, "hosp1-lab", "Hospital 1 lab", "hosp-1", "system/*.read", jwks_url=keys_at)
    url = token_url(client)

    for _ in range(2):
        status, answer = await ask(client, assertion(key, "hosp1-lab", url, alg="ES384", jku=keys_at), "system/*.rs")
        assert status == 200, answer
    assert len(fetched) == 1  # kept as long as its max-age allows
    status, answer = await ask(client, assertion(key, "hosp1-lab", url, alg="ES384", jku="https://evil.example/k"))
    assert status == 401 and "jku" in answer["error_description"]
    status, answer = await ask(client, assertion(rsa_key("e1"), "hosp1-lab", url, alg="RS384"))
    assert status == 401 and "0 of the client's keys match kid e1 for RS384" in answer["error_description"]


def telemed(settings, *args) -> subprocess.CompletedProcess:
    env = {"TELEMED_DATABASE_URL": settings.database_url, "TELEMED_DATA_DIR": str(settings.data_dir),
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "telemed.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120)


async def test_clients_add_registers_a_jwks_file_and_revoke_stops_it(settings, client, world, tmp_path):
    key = rsa_key()
    (tmp_path / "public.json").write_text(public_jwks(key))
    (tmp_path / "private.json").write_text(orjson.dumps({"keys": [key.as_dict(private=True)]}).decode())
    base = ("clients", "add", "hosp1-etl", "--name", "Hospital 1 ETL", "--scope", READS)
    refused = {
        "private key": telemed(settings, *base, "--org", "hosp-1", "--jwks-file", str(tmp_path / "private.json")),
        "not a partner hospital": telemed(settings, *base, "--org", "fac-a", "--jwks-file", str(tmp_path / "public.json")),
    }
    for message, result in refused.items():
        assert result.returncode == 1 and message in result.stderr, result.stderr
    added = telemed(settings, *base, "--org", "hosp-1", "--jwks-file", str(tmp_path / "public.json"))
    assert added.returncode == 0, added.stderr
    assert (await ask(client, assertion(key, "hosp1-etl", token_url(client))))[0] == 200

    assert telemed(settings, "clients", "revoke", "hosp1-etl").returncode == 0
    status, answer = await ask(client, assertion(key, "hosp1-etl", token_url(client)))
    assert status == 401 and "no registered client" in answer["error_description"]
    trail = telemed(settings, "audit", "export").stdout
    assert "admin.clients.create" in trail and "admin.clients.revoke" in trail


async def test_discovery_names_the_token_endpoint(client):
    smart = await (await client.get("/.well-known/smart-configuration")).json()
    assert smart["token_endpoint"] == token_url(client)
    assert smart["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(smart["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    capability = await (await client.get("/fhir/metadata")).json()
    uris = capability["rest"][0]["security"]["extension"][0]["extension"]
    assert uris == [{"url": "token", "valueUri": token_url(client)}]

