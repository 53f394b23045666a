"""Batch and transaction Bundles.

A transaction runs in the caller's one database transaction: any failing entry raises, so
nothing is written, and the error names the entry. ``urn:uuid:`` fullUrls of created entries
get their server ids before anything is written, and every reference to them is rewritten.
A batch runs each entry in a savepoint and reports each outcome in its own response entry.

A large Bundle's resources go to the Validator's worker processes as the request arrives. For
a transaction whose ids can be given at once (it has no conditional create, whose match would
change the references), the workers also rewrite the references and work out each plain
create whole (stamped, serialised, indexed): the database thread then only checks access and
inserts rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlsplit

import orjson
from sqlmodel import Session

from ehr import interactions, store
from ehr.access import Gate
from ehr.errors import FhirError, Issue, concealed, invalid
from ehr.store import Fresh, Stored
from ehr.validation import Invalid, Validator, Verdict, invalid as invalid_resource
from telemed.db import lock_for_writing
from telemed.timeutil import fhir_instant, utcnow

WRITE_CHUNK = Validator.CHUNK
# Processing order the specification sets for a transaction.
METHOD_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}


@dataclass
class Entry:
    index: int
    method: str
    url: str
    resource: dict | None
    full_url: str
    if_none_exist: str | None
    if_match: int | None
    rid: str | None = None  # a create's new id, in a transaction
    verdict: Verdict[Fresh | None] | None = None  # what the Validator's workers make of its resource

    def checked(self) -> bool:
        """Whether its resource is validated (raising the error found), waiting for the workers."""
        if self.verdict is None:
            return False
        self.verdict.result()
        return True

    def made(self) -> Fresh | None:
        """Its create as the workers worked it out (raising the validation error found), or None."""
        return self.verdict.result() if self.verdict is not None else None


def entries_of(bundle: dict) -> tuple[str, list[Entry]]:
    kind = bundle.get("type")
    if bundle.get("resourceType") != "Bundle" or kind not in ("batch", "transaction"):
        raise invalid("POST /fhir takes a Bundle of type batch or transaction", ["Bundle.type"], status=400)
    raw_entries = bundle.get("entry", [])
    if not isinstance(raw_entries, list):
        raise invalid("Bundle.entry must be an array", ["Bundle.entry"], status=400)
    return kind, [_entry(i, raw) for i, raw in enumerate(raw_entries)]


def _entry(i: int, raw: object) -> Entry:
    """One entry, its shape checked: every element that is there has its FHIR type."""
    where = f"Bundle.entry[{i}]"
    if not isinstance(raw, dict):
        raise invalid(f"entry {i} must be an object", [where], status=400)
    request = raw.get("request")
    if not isinstance(request, dict):
        raise invalid(f"entry {i}: request (method and url) is required", [f"{where}.request"], status=400)
    for key in ("method", "url", "ifNoneExist", "ifMatch"):
        if key in request and not isinstance(request[key], str):
            raise invalid(f"entry {i}: request.{key} must be a string", [f"{where}.request.{key}"], status=400)
    if not isinstance(raw.get("fullUrl", ""), str):
        raise invalid(f"entry {i}: fullUrl must be a string", [f"{where}.fullUrl"], status=400)
    method, url = request.get("method", "").upper(), request.get("url", "").lstrip("/")
    if method not in METHOD_ORDER or not url:
        raise invalid(f"entry {i}: request.method (GET, POST, PUT, DELETE) and request.url are required",
                      [f"{where}.request"], status=400)
    resource = raw.get("resource")
    if method in ("POST", "PUT") and not isinstance(resource, dict):
        raise invalid(f"entry {i}: a {method} needs a resource", [f"{where}.resource"], status=400)
    if method in ("GET", "DELETE") and resource is not None:
        raise invalid(f"entry {i}: a {method} takes no resource", [f"{where}.resource"], status=400)
    return Entry(i, method, url, resource, raw.get("fullUrl", ""), request.get("ifNoneExist"),
                 _version(request.get("ifMatch"), i))


def _version(etag: str | None, index: int) -> int | None:
    if not etag:
        return None
    text = etag.removeprefix("W/").strip('"')
    if not text.isdigit():
        raise invalid(f"entry {index}: ifMatch must be an ETag such as W/\"1\"", [f"Bundle.entry[{index}].request.ifMatch"], status=400)
    return int(text)


def _assign_ids(entries: list[Entry]) -> dict[str, str]:
    """Give every create its new id; returns urn:uuid fullUrl -> "Type/id" for each entry that
    has one. One clock reading and one random draw for the whole Bundle (new_id draws twice per id)."""
    creates = [e for e in entries if e.method == "POST" or _conditional(e)]
    for e, rid in zip(creates, store.new_ids(len(creates))):
        e.rid = rid
    mapping = {}
    for e in entries:
        if e.method == "POST" and e.full_url.startswith("urn:uuid:"):
            mapping[e.full_url] = f"{e.resource.get('resourceType')}/{e.rid}"
        elif e.method == "PUT" and e.full_url.startswith("urn:uuid:") and not _conditional(e):
            mapping[e.full_url] = e.url
    return mapping


def _conditional(e: Entry) -> bool:
    """A conditional update or delete (its url holds search criteria)."""
    return e.method in ("PUT", "DELETE") and "?" in e.url


# A reference given as search criteria ("Patient?identifier=sys|MRN"), resolved in a transaction.
_CONDITIONAL_REFERENCE = re.compile(rb'"reference":"([A-Z][A-Za-z]*\?[^"\\]*)"')
_SWAPPED = re.compile(rb'"(urn:uuid:[^"\\]+|[A-Z][A-Za-z]*\?[^"\\]*)"')


def _needs_lookups(entries: list[Entry], texts: list[bytes]) -> bool:
    """Whether the transaction's references depend on what the store holds (a conditional
    create, update or reference), so that ids cannot be given before it runs."""
    return (any(e.if_none_exist or _conditional(e) for e in entries)
            or any(_CONDITIONAL_REFERENCE.search(text) for text in texts))


def _conditional_references(session: Session, gate: Gate, entries: list[Entry]) -> dict[str, str]:
    """Each conditional reference -> "Type/id" of its one match among what the caller may read."""
    found = {ref.decode() for e in entries if e.resource is not None
             for ref in _CONDITIONAL_REFERENCE.findall(orjson.dumps(e.resource))}
    resolved = {}
    for ref in sorted(found):
        rtype, criteria = ref.split("?", 1)
        interactions.check_type(rtype)
        matches = interactions.conditional_matches(session, gate, rtype, criteria, "conditional reference", 2)
        if len(matches) != 1:
            raise FhirError(412, Issue("not-found" if not matches else "multiple-matches",
                                       f"conditional reference {ref} matches {'no' if not matches else 'more than one'} "
                                       f"{rtype}; it must match exactly one"))
        resolved[ref] = f"{rtype}/{matches[0].id}"
    return resolved


def rewrite_references(resource: dict, mapping: dict[str, str]) -> dict:
    """Replace every ``"urn:uuid:..."`` string that ``mapping`` knows. Done on the JSON text: one
    regex pass costs a fraction of walking the resource in Python, and most resources have none."""
    text = orjson.dumps(resource)
    rewritten = _rewritten(text, mapping)
    return resource if rewritten is text else orjson.loads(rewritten)


def _rewritten(text: bytes, mapping: dict[str, str]) -> bytes:
    if not mapping or (b"urn:uuid:" not in text and b"?" not in text):
        return text

    def swap(match: re.Match) -> bytes:
        found = mapping.get(match.group(1).decode())
        return orjson.dumps(found) if found is not None else match.group(0)

    return _SWAPPED.sub(swap, text)


def _located(stored: Stored, status: str) -> dict:
    return {"response": {"status": status, "location": f"{stored.type}/{stored.id}/_history/{stored.version}",
                         "etag": stored.etag, "lastModified": fhir_instant(stored.last_updated)}}


def _run_entry(session: Session, gate: Gate, e: Entry, mapping: dict[str, str]) -> dict:
    path = urlsplit(e.url).path
    parts = [p for p in path.split("/") if p]
    if e.method == "POST":
        # A conditional create whose match was found returns the match, the id unused.
        stored, created = interactions.create(session, gate, e.resource, expected=_url_type(e),
                                              if_none_exist=e.if_none_exist, resource_id=e.rid, validated=e.checked())
        return _located(stored, "201 Created" if created else "200 OK")
    if e.method == "PUT" and _conditional(e):
        rtype, criteria = e.url.split("?", 1)
        stored, created = interactions.conditional_update(session, gate, e.resource, rtype, criteria, e.if_match,
                                                          new_id=e.rid, validated=e.checked())
        return _located(stored, "201 Created" if created else "200 OK")
    if e.method == "DELETE" and _conditional(e):
        rtype, criteria = e.url.split("?", 1)
        interactions.conditional_delete(session, gate, rtype, criteria)
        return {"response": {"status": "204 No Content"}}
    if e.method == "PUT":
        if len(parts) != 2:
            raise invalid(f"PUT {e.url}: expected Type/id", ["Bundle.entry.request.url"], status=400)
        stored, created = interactions.update(session, gate, e.resource, parts[0], parts[1], e.if_match,
                                              validated=e.checked())
        return _located(stored, "201 Created" if created else "200 OK")
    if e.method == "DELETE":
        if len(parts) != 2:
            raise invalid(f"DELETE {e.url}: expected Type/id", ["Bundle.entry.request.url"], status=400)
        interactions.delete(session, gate, parts[0], parts[1])
        return {"response": {"status": "204 No Content"}}
    return _get(session, gate, parts, urlsplit(e.url).query)


def _get(session: Session, gate: Gate, parts: list[str], query: str) -> dict:
    if len(parts) == 2:
        stored = interactions.read(session, gate, parts[0], parts[1])
        return {"resource": orjson.loads(stored.content), **_located(stored, "200 OK")}
    if len(parts) == 1:
        _, result = interactions.search(session, gate, parts[0], parse_qsl(query, keep_blank_values=True))
        entries = [{"resource": s.resource, "search": {"mode": "match"}} for s in result.matches]
        entries += [{"resource": s.resource, "search": {"mode": "include"}} for s in result.included]
        searchset = {"resourceType": "Bundle", "type": "searchset", "total": result.total, "entry": entries}
        return {"resource": searchset, "response": {"status": "200 OK"}}
    raise invalid("GET entries take Type/id or Type?search", ["Bundle.entry.request.url"], status=400)


def _outcome_entry(error: FhirError) -> dict:
    error = concealed(error)
    return {"response": {"status": str(error.status), "outcome": error.outcome()}}


def _entry_error(error: FhirError, e: Entry) -> FhirError:
    error = concealed(error)
    prefix = f"Bundle.entry[{e.index}]"
    issues = [Issue(i.code, f"entry {e.index} ({e.method} {e.url}): {i.diagnostics}",
                    [f"{prefix}.resource.{x.split('.', 1)[1]}" if "." in x else prefix for x in i.expression] or [prefix],
                    i.severity) for i in error.issues]
    return FhirError(error.status, issues)


def _order(e: Entry) -> tuple[int, int]:
    """Method order; within a method, Patients first: their detainee rows decide access to the rest."""
    return METHOD_ORDER[e.method], 0 if (e.resource or {}).get("resourceType") == "Patient" else 1


def start(validator: Validator, kind: str, entries: list[Entry]) -> dict[str, str] | None:
    """On the event loop: hand a large Bundle's resources to the validator's workers. The
    transaction waits for each entry's verdict when it comes to it, writing earlier entries
    meanwhile. Returns the urn:uuid mapping when the ids were given now (see the module's doc)."""
    writes = [e for e in entries if e.method in ("POST", "PUT")]
    if not validator.wanted(len(writes)):
        return None
    # As JSON text: it crosses to the workers in a fraction of a dict's pickling time.
    texts = [orjson.dumps(e.resource) for e in writes]
    mapping, now = None, None
    if kind == "transaction" and not _needs_lookups(entries, texts):
        mapping, now = _assign_ids(entries), utcnow()
    jobs = ((_rewritten(text, mapping), e.rid if mapping is not None and _batchable(e) else None, now)
            for e, text in zip(writes, texts))  # made as they are sent: the workers start on the first chunk at once
    for e, verdict in zip(writes, validator.submit(work_out, jobs)):
        e.verdict = verdict
    return mapping


def work_out(jobs: list[tuple[bytes, str | None, datetime | None]]) -> list[Invalid | Fresh | None]:
    """In a validation worker: each resource validated and, given its id, its create worked out."""
    made: list[Invalid | Fresh | None] = []
    for text, rid, now in jobs:
        resource = orjson.loads(text)
        problem = invalid_resource(resource)
        made.append(problem or (store.fresh(resource, rid, now) if rid else None))
    return made


def cancel_validation(entries: list[Entry]) -> None:
    """A transaction that failed early leaves no validation running for nothing."""
    for e in entries:
        if e.verdict is not None:
            e.verdict.cancel()


def process(session: Session, gate: Gate, kind: str, entries: list[Entry],
            mapping: dict[str, str] | None = None) -> dict:
    """``mapping``: what ``start`` returned."""
    if kind == "transaction":
        return _transaction(session, gate, entries, mapping)
    responses = []
    lock_for_writing(session)  # each entry's SAVEPOINT would begin the transaction before it reads
    for e in entries:
        try:
            with session.begin_nested():
                responses.append(_run_entry(session, gate, e, {}))
        except FhirError as error:
            responses.append(_outcome_entry(error))
    return {"resourceType": "Bundle", "type": "batch-response", "entry": responses}


def _transaction(session: Session, gate: Gate, entries: list[Entry], mapping: dict[str, str] | None) -> dict:
    now = utcnow()
    if mapping is None:
        mapping = _assign_ids(entries)
        for e in entries:  # a conditional create or update points its references at its match
            if e.method == "POST" and e.if_none_exist and e.full_url in mapping:
                rtype = mapping[e.full_url].split("/")[0]
                found = interactions.conditional_match(session, gate, rtype, e.if_none_exist)
                if found is not None:
                    mapping[e.full_url] = f"{found.type}/{found.id}"
            elif e.method == "PUT" and _conditional(e) and e.full_url.startswith("urn:uuid:"):
                rtype, criteria = e.url.split("?", 1)
                found = interactions.conditional_match(session, gate, rtype, criteria, "conditional update")
                mapping[e.full_url] = f"{rtype}/{found.id if found is not None else e.rid}"
        mapping.update(_conditional_references(session, gate, entries))
    responses: dict[int, dict] = {}
    batched: list[tuple[Entry, Fresh]] = []  # plain creates, written together by executemany
    for e in sorted(entries, key=_order):
        try:
            if _batchable(e):
                batched.append((e, _made(session, gate, e, mapping, now)))
                if len(batched) >= WRITE_CHUNK:  # written while the workers see to the next ones
                    _write_batched(session, batched, responses)
                continue
            if batched and e.method != "POST":
                _write_batched(session, batched, responses)
            if e.resource is not None:
                e.resource = rewrite_references(e.resource, mapping)
            responses[e.index] = _run_entry(session, gate, e, mapping)
        except FhirError as error:
            raise _entry_error(error, e) from None
    _write_batched(session, batched, responses)
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": [responses[e.index] for e in entries]}


def _made(session: Session, gate: Gate, e: Entry, mapping: dict[str, str], now: datetime) -> Fresh:
    """A plain create, allowed and worked out (by the workers, when they could)."""
    made = e.made()
    if made is not None:
        interactions.prepare_fresh(session, gate, e.resource, made, _url_type(e))
        return made
    resource = rewrite_references(e.resource, mapping)
    interactions.prepare_create(session, gate, resource, e.rid, _url_type(e), validated=e.checked())
    return store.fresh(resource, e.rid, now)


def _batchable(e: Entry) -> bool:
    return e.method == "POST" and not e.if_none_exist and e.resource.get("resourceType") != "Patient"


def _url_type(e: Entry) -> str | None:
    parts = [p for p in urlsplit(e.url).path.split("/") if p]
    return parts[0] if parts else None


def _write_batched(session: Session, batched: list[tuple[Entry, Fresh]], responses: dict[int, dict]) -> None:
    written = store.insert_fresh(session, [made for _, made in batched])
    for (e, _), stored in zip(batched, written):
        responses[e.index] = _located(stored, "201 Created")
    batched.clear()
