"""What the server tells clients about SMART authorization: ``.well-known/smart-configuration``
and the CapabilityStatement's ``rest.security`` (SMART App Launch 2.2, Backend Services)."""

from __future__ import annotations

from telemed.clients import ALGORITHMS
from telemed.clients_api import TOKEN_PATH

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def token_url(base: str) -> str:
    """The token endpoint beside ``base`` (``scheme://host/fhir``)."""
    return base.removesuffix("/fhir") + TOKEN_PATH


def configuration(base: str) -> dict:
    return {
        "token_endpoint": token_url(base),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "scopes_supported": ["system/*.read", "system/*.rs"],
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
        "code_challenge_methods_supported": ["S256"],
    }


def security(base: str) -> dict:
    return {
        "extension": [{"url": OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_url(base)}]}],
        "service": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                                 "code": "SMART-on-FHIR"}]}],
        "description": "SMART Backend Services (client credentials, private_key_jwt) for registered hospital "
                       "systems; staff use a bearer token from POST /api/auth/token",
    }
