"""JSON routes of rounds and the medication pass. Every route about one detainee asks the policy
(``authorize`` or the FHIR gate) and leaves an audit entry; identification is audited as scanned,
typed or failed."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from aiohttp import web
from sqlmodel import Session

from ehr.charting import FieldErrors
from ehr.errors import FhirError
from ehr.requests import run
from rounds import adherence, due, entries, identity, medpass, photo, qr, schedule
from rounds.entries import Sent
from rounds.medpass import DoseEntry, DoseRefused
from telemed.context import context_of
from telemed.http import api_error, audit, audit_shown, authorize, json_response, principal, read_json, require
from telemed.i18n import translate
from telemed.policy import Capability
from telemed.timeutil import utcnow
from telemed.ui import language

READ, WRITE = Capability.CLINICAL_READ, Capability.CLINICAL_WRITE
MAX_KEY = 64
MAX_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=2)


def window(request: web.Request) -> timedelta:
    return timedelta(minutes=context_of(request).settings.missed_dose_minutes)


async def _identified(request: web.Request, found, method: str) -> web.Response:
    if found is None:
        audit(request, "rounds.identify", "denied", resource=f"Organization/{principal(request).org_id}",
              reason=f"failed ({method}): no detainee in custody here has this code")
        raise api_error(404, translate(language(request), "rounds.error.not_identified"))
    audit(request, "rounds.identify", "allowed", patient_id=found.patient_id, resource=f"Patient/{found.patient_id}",
          reason=method)
    photo_kept = await context_of(request).db.run(due.has_photo, found.patient_id)
    return json_response(due.identity_card(found, photo_kept))


async def identify(request: web.Request) -> web.Response:
    """``{"code": ..., "method": "scanned"|"typed"}``: the detainee the code names, in this facility."""
    who = require(request, WRITE, "rounds.identify")
    body = await read_json(request)
    method = str(body.get("method", ""))
    if method not in identity.METHODS:
        raise api_error(400, "method must be scanned or typed")
    found = await context_of(request).db.run(identity.find, who.org_id, str(body.get("code", ""))[:80])
    return await _identified(request, found, method)


async def decode(request: web.Request) -> web.Response:
    """A camera frame (image body) from a browser without BarcodeDetector: decoded here."""
    who = require(request, WRITE, "rounds.identify")
    codes = qr.decode(await request.read())
    if not codes:
        audit(request, "rounds.identify", "denied", resource=f"Organization/{who.org_id}",
              reason="failed (scanned): no code in the frame")
        raise api_error(422, translate(language(request), "rounds.error.no_code"))
    found = await context_of(request).db.run(identity.find, who.org_id, codes[0][:80])
    return await _identified(request, found, "scanned")


async def photo_get(request: web.Request) -> web.Response:
    pid = request.match_info["patient_id"]
    await authorize(request, READ, pid, "rounds.photo.read")
    row = await context_of(request).db.run(photo.read, pid)
    if row is None:
        raise api_error(404, "no photo")
    return web.Response(body=row.data, content_type=row.content_type, headers={"Cache-Control": "private, no-store"})


async def photo_put(request: web.Request) -> web.Response:
    pid = request.match_info["patient_id"]
    who = require(request, WRITE, "rounds.photo.write", patient_id=pid)
    image = await request.read()
    try:
        await run(request, photo.store, pid, image, who.display_name)
    except photo.NotAPhoto:
        raise api_error(422, translate(language(request), "rounds.error.not_a_photo")) from None
    except FhirError as exc:
        raise api_error(exc.status, exc.outcome()["issue"][0].get("diagnostics", "")) from None
    return json_response({"url": photo.url_of(pid)}, status=201)


async def blocks(request: web.Request) -> web.Response:
    who = require(request, READ, "rounds.blocks")
    return json_response(await context_of(request).db.run(due.blocks, who.org_id))


async def block(request: web.Request) -> web.Response:
    who = require(request, READ, "rounds.block")
    ctx = context_of(request)
    rows = await ctx.db.run(due.of_block, who.org_id, request.match_info["block"], utcnow(), ctx.settings.tz)
    audit_shown(request, "rounds.block", [r["patient_id"] for r in rows])
    return json_response(rows)


def _check_key(key: str) -> None:
    if not 8 <= len(key) <= MAX_KEY or not key.replace("-", "").isalnum() or not key.isascii():
        raise api_error(400, "key must be 8 to 64 letters, digits or hyphens")


def _taken_at(raw: object, lang: str) -> datetime:
    """When an entry was taken on the phone: with its offset, not ahead of the server's clock by
    more than a phone's drift, and within the last two days."""
    try:
        taken = datetime.fromisoformat(str(raw))
    except ValueError:
        taken = None
    if taken is None or taken.tzinfo is None:
        raise api_error(400, translate(lang, "rounds.time.format"), field="taken_at")
    now = utcnow()
    if taken > now + MAX_SKEW:
        raise api_error(400, translate(lang, "rounds.time.future"), field="taken_at")
    if taken < now - MAX_AGE:
        raise api_error(400, translate(lang, "rounds.time.too_old"), field="taken_at")
    return min(taken, now)


async def entry(request: web.Request) -> web.Response:
    """One entry queued on a rounds page: ``{key, patient_id, kind, taken_at, fields}``."""
    body = await read_json(request)
    pid, kind, key = str(body.get("patient_id", "")), str(body.get("kind", "")), str(body.get("key", ""))
    who = require(request, WRITE, "rounds.entry", patient_id=pid or None)
    if kind not in entries.KINDS:
        raise api_error(400, f"kind must be one of {', '.join(entries.KINDS)}")
    _check_key(key)
    fields = body.get("fields")
    if not isinstance(fields, dict):
        raise api_error(400, "fields must be an object")
    lang = language(request)
    sent = Sent(key, pid, kind, _taken_at(body.get("taken_at"), lang), fields)
    try:
        written, resent = await run(request, entries.receive, sent, context_of(request).settings.tz, lang,
                                    who.display_name)
    except FieldErrors as exc:
        raise api_error(422, translate(lang, "ehr.error.form"),
                        errors={k: translate(lang, v) for k, v in exc.errors.items()}) from None
    except FhirError as exc:
        raise api_error(exc.status, exc.outcome()["issue"][0].get("diagnostics", "")) from None
    if resent:
        audit(request, "rounds.entry.resent", "allowed", patient_id=pid, resource=f"Patient/{pid}", reason=key)
    return json_response({"written": written, "resent": resent}, status=200 if resent else 201)


def _day(raw: str | None, request: web.Request) -> date:
    if not raw:
        return utcnow().astimezone(context_of(request).settings.tz).date()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise api_error(400, "day must be YYYY-MM-DD") from None


def _pill_line(session: Session, gate, facility_id: str, day: date, slot: str, block: str | None,
               now: datetime, tz, window_: timedelta, author: str) -> dict:
    adherence.sweep(session, gate, facility_id, now, tz, window_, author)
    return due.pill_line(session, facility_id, day, slot, block, now, tz, window_)


async def pills(request: web.Request) -> web.Response:
    """The doses of one pill call (``slot``, default the current one) by cell, each with its state;
    first the missed-dose sweep raises what the window has closed on."""
    who = require(request, WRITE, "rounds.pills")
    ctx, now = context_of(request), utcnow()
    slot = request.query.get("slot") or schedule.slot_at(now.astimezone(ctx.settings.tz))
    if slot not in schedule.SLOTS:
        raise api_error(400, f"slot must be one of {', '.join(schedule.SLOTS)}")
    day = _day(request.query.get("day"), request)
    line = await run(request, _pill_line, who.org_id, day, slot, request.query.get("block") or None, now,
                     ctx.settings.tz, window(request), who.display_name)
    audit_shown(request, "rounds.pills", [d["patient_id"] for d in line["doses"]])
    return json_response(line)


def _dose_entry(body: dict, lang: str) -> DoseEntry:
    def user(name: str) -> int | None:
        value = body.get(name)
        if value in (None, ""):
            return None
        if not isinstance(value, int) and not str(value).isdigit():
            raise api_error(400, f"{name} must be a user id")
        return int(value)
    taken = body.get("taken_at")
    return DoseEntry(dose_key=str(body.get("dose", "")), outcome=str(body.get("outcome", "")),
                     identified=str(body.get("identified", "")), witness=user("witness"),
                     second_witness=user("second_witness"), reason=str(body.get("reason", ""))[:500],
                     override=str(body.get("override", ""))[:500], taken_at=_taken_at(taken, lang) if taken else None)


def _record(session: Session, gate, facility_id: str, key: str, sent: DoseEntry, nurse: str) -> tuple[dict, bool]:
    if key:
        return medpass.receive(session, gate, facility_id, key, sent, nurse)
    return medpass.record(session, gate, facility_id, sent, nurse), False


async def dose(request: web.Request) -> web.Response:
    """Record one dose: ``{dose, outcome, identified, witness, second_witness?, reason?, override?,
    key?, taken_at?}``. With the browser's ``key`` a resend gets the first answer and writes nothing."""
    body = await read_json(request)
    who = require(request, WRITE, "rounds.dose")
    key = str(body.get("key") or "")
    if key:
        _check_key(key)
    lang = language(request)
    sent = _dose_entry(body, lang)
    try:
        done, resent = await run(request, _record, who.org_id, key, sent, who.display_name)
    except DoseRefused as exc:
        if exc.field == "identified" and exc.status == 409:
            audit(request, "rounds.dose.wrong_detainee", "denied", patient_id=sent.identified or None,
                  resource=f"MedicationAdministration?dose={sent.dose_key}", reason="identified detainee is not the dose's")
        raise api_error(exc.status, translate(lang, exc.key), field=exc.field) from None
    except FhirError as exc:
        raise api_error(exc.status, exc.outcome()["issue"][0].get("diagnostics", "")) from None
    if resent:
        audit(request, "rounds.dose.resent", "allowed", patient_id=done["patient_id"],
              resource=f"MedicationAdministration/{done['id']}", reason=key)
    elif sent.override:
        audit(request, "rounds.dose.override", "allowed", patient_id=sent.identified,
              resource=f"MedicationAdministration/{done['id']}", reason=sent.override)
    return json_response({**done, "resent": resent}, status=200 if resent else 201)


async def witnesses(request: web.Request) -> web.Response:
    who = require(request, WRITE, "rounds.witnesses")
    users = await context_of(request).db.run(medpass.witnesses, who.org_id)
    return json_response([{"id": u.id, "name": u.display_name or u.username, "role": u.role}
                          for u in users if u.id != who.user_id])


async def counts(request: web.Request) -> web.Response:
    who = require(request, WRITE, "rounds.controlled")
    return json_response(await context_of(request).db.run(due.counts, who.org_id))


async def recount(request: web.Request) -> web.Response:
    """``{medicine, count}``: the count of a controlled medicine on hand, as counted now."""
    who = require(request, WRITE, "rounds.controlled.recount")
    body = await read_json(request)
    medicine, count = str(body.get("medicine", "")).strip()[:200], body.get("count")
    if not medicine or not isinstance(count, int) or not 0 <= count <= 100000:
        raise api_error(400, "medicine and a count from 0 to 100000 are required")
    await context_of(request).db.run(due.recount, who.org_id, medicine, count)
    audit(request, "rounds.controlled.recount", "allowed", resource=f"Organization/{who.org_id}",
          reason=f"{medicine}: {count}")
    return json_response({"medicine": medicine.lower(), "count": count})


async def patient_adherence(request: web.Request) -> web.Response:
    pid = request.match_info["patient_id"]
    # the doses themselves are read: a specialist sees them only when shared, which these never are
    await authorize(request, READ, pid, "rounds.adherence", resource=("MedicationAdministration", "*"))
    ctx = context_of(request)
    facility = await ctx.db.run(due.facility_of, pid)
    rows = await ctx.db.run(adherence.of_detainee, facility, pid, utcnow(), ctx.settings.tz, window(request))
    return json_response([due.adherence_json(a) for a in rows])


async def facility_adherence(request: web.Request) -> web.Response:
    who = require(request, READ, "rounds.adherence.facility")
    ctx = context_of(request)
    figure = await ctx.db.run(adherence.of_facility, who.org_id, utcnow(), ctx.settings.tz, window(request))
    audit(request, "rounds.adherence.facility", "allowed", resource=f"Organization/{who.org_id}")
    return json_response(due.adherence_json(figure))


def setup(app: web.Application) -> None:
    app.router.add_post("/api/rounds/identify", identify)
    app.router.add_post("/api/rounds/decode", decode)
    app.router.add_get("/api/rounds/photo/{patient_id}", photo_get)
    app.router.add_post("/api/rounds/photo/{patient_id}", photo_put)
    app.router.add_get("/api/rounds/blocks", blocks)
    app.router.add_get("/api/rounds/blocks/{block}", block)
    app.router.add_post("/api/rounds/entries", entry)
    app.router.add_get("/api/rounds/pills", pills)
    app.router.add_post("/api/rounds/doses", dose)
    app.router.add_get("/api/rounds/witnesses", witnesses)
    app.router.add_get("/api/rounds/controlled", counts)
    app.router.add_post("/api/rounds/controlled", recount)
    app.router.add_get("/api/rounds/adherence", facility_adherence)
    app.router.add_get("/api/rounds/adherence/{patient_id}", patient_adherence)
