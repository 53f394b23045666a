"""The FHIR R4 record store and REST API."""
