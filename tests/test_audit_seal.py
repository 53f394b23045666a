"""The audit trail's seal, field by field and rule by rule: each field the MAC covers, changed
in the database, is named by ``verify``; so are a broken link, a gap, an unknown key, an unkeyed
entry after keyed ones, and a chain held to its checkpoints. Also the writer's tickets and the
FHIR export. In one rolled-back transaction per test, on both databases."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import shutil
import socketserver
import threading
from datetime import datetime, timezone

import orjson
import pytest
from sqlalchemy import text
from sqlmodel import select

from telemed import audit
from telemed.audit import (EVENT_FIELDS, GENESIS, TAG_HEX, AuditEvent, AuditLog, Checkpoints, ChainProblem, Commits,
                           Head, Signer, _canonical, about_patients, append, field_tags, indexed_through, legacy_hash,
                           seal, to_fhir, verify, write_batch)
from telemed.audit_keys import Keyring, key_id
from telemed.db import make_engine
from telemed.models import AuditEntry, AuditPatient
from tests.conftest import _sqlite_template

UTC = timezone.utc
KEY, OTHER_KEY = bytes(range(32)), bytes(range(1, 33))
KID, OTHER_KID = key_id(KEY), key_id(OTHER_KEY)
AT = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
MAC_MISMATCH = "its MAC does not match: rewritten, or the chain was recomputed without the audit key"


def signer(path=None, keys: dict | None = None, current: str = KID) -> Signer:
    return Signer(Keyring(keys or {KID: KEY}, current), Checkpoints(path))


def event(n: int, **fields) -> AuditEvent:
    values = dict(action="fhir.read", outcome="allowed", user_id=3, username="doc-a", role="facility_doctor",
                  patient_id="fac-a-p1", resource=f"Observation/o{n}", ip="127.0.0.1", request_id=f"r-{n}",
                  ts=datetime(2026, 11, 24, 8, n, tzinfo=UTC))
    return AuditEvent(**{**values, **fields})


def problems(session, sealer: Signer | None = None, **kwargs) -> list[tuple[int, str]]:
    session.expire_all()  # the rows were changed behind the ORM's back
    return [(p.seq, p.problem) for p in verify(session, sealer or signer(), **kwargs)[1]]


def execute(session, sql: str, **params) -> None:
    session.execute(text(sql), params)


# -- the seal itself ------------------------------------------------------------------------------

def test_the_unkeyed_rule_of_older_entries_is_unchanged():
    """Entries written before keyed seals verify by this rule: pinned to the value the old code wrote."""
    fields = dict(action="fhir.read", outcome="allowed", user_id=3, username="doc-a", role="facility_doctor",
                  patient_id="fac-a-p1", resource="Observation/o1", reason="", ip="127.0.0.1", request_id="r-1",
                  break_glass=False, ts=AT)
    assert legacy_hash(7, "ab" * 32, fields) == "4b48a2c021cfb99dfa1ca4ad88575e83f7f219199d093bd3669a36a1c121e6f2"
    assert legacy_hash(7, "ab" * 32, {**fields, "ts": "2026-11-24T08:30:00.000Z"}) == legacy_hash(7, "ab" * 32, fields)
    assert legacy_hash(8, "ab" * 32, fields) != legacy_hash(7, "ab" * 32, fields)
    assert legacy_hash(7, "cd" * 32, fields) != legacy_hash(7, "ab" * 32, fields)


def test_canonical_values_write_instants_in_utc():
    assert _canonical([AT.astimezone(timezone.max), "x", 3, None, True]) == ["2026-11-24T08:30:00.000Z", "x", 3, None,
                                                                             True]


def test_one_tag_per_field():
    values = _canonical(getattr(event(1), name) for name in EVENT_FIELDS)
    tags = field_tags(KEY, values)
    assert len(tags) == TAG_HEX * len(EVENT_FIELDS) and TAG_HEX == 4
    assert tags[:TAG_HEX] == hmac.digest(KEY, orjson.dumps(["action", "fhir.read"]), "sha256").hex()[:TAG_HEX]
    for n, name in enumerate(EVENT_FIELDS):
        changed = field_tags(KEY, [v if i != n else f"changed-{v}" for i, v in enumerate(values)])
        differ = [i for i in range(len(EVENT_FIELDS)) if changed[i * TAG_HEX:(i + 1) * TAG_HEX] != tags[i * TAG_HEX:(i + 1) * TAG_HEX]]
        assert differ == [n], name
    assert field_tags(OTHER_KEY, values) != tags


def test_the_seal_covers_key_position_link_key_id_tags_and_values():
    args = (KEY, 5, "ab" * 32, KID, "0123" * 12, ["fhir.read", 3])
    sealed = seal(*args)
    assert sealed == hmac.new(KEY, orjson.dumps(list(args[1:])), hashlib.sha256).hexdigest()
    for position, other in enumerate((OTHER_KEY, 6, "cd" * 32, OTHER_KID, "4567" * 12, ["fhir.read", 4])):
        changed = list(args)
        changed[position] = other
        assert seal(*changed) != sealed, position


def fresh_tags(key: bytes, values: list) -> str:
    """The tags as the verifier's rule states them, one ``hmac.digest`` per field, no cache."""
    return "".join(hmac.digest(key, orjson.dumps([name, value]), "sha256").hex()[:TAG_HEX]
                   for name, value in zip(EVENT_FIELDS, values))


def test_a_remembered_tag_is_the_tag_computed_afresh():
    """The writer's cache of recurring values' tags: each tag, remembered or not, is the one a
    fresh computation gives, for values Python calls equal but JSON writes apart (True and 1)."""
    sealer = audit.Sealer(KEY)
    base = _canonical(getattr(event(1), name) for name in EVENT_FIELDS)
    user, glass = EVENT_FIELDS.index("user_id"), EVENT_FIELDS.index("break_glass")
    for user_id, break_glass in ((1, True), (True, 1), (1, True), (1.0, False), (0, False), (False, 0)):
        values = list(base)
        values[user], values[glass] = user_id, break_glass
        assert sealer.tags(values) == fresh_tags(KEY, values), (user_id, break_glass)
    assert sealer.tags(base) == sealer.tags(base) == fresh_tags(KEY, base)
    assert audit.Sealer(OTHER_KEY).tags(base) == fresh_tags(OTHER_KEY, base) != fresh_tags(KEY, base)


def test_a_full_tag_cache_is_emptied_and_its_tags_stay_right(monkeypatch):
    """The cache is bounded: past its size it starts afresh, and the tags never change."""
    monkeypatch.setattr(audit, "_TAG_CACHE", 20)
    sealer, remembered = audit.Sealer(KEY), len(EVENT_FIELDS) - len(audit._UNIQUE)
    sizes = []
    for n in range(1, 13):
        values = _canonical(getattr(event(n, username=f"doc-{n}", user_id=n, patient_id=f"fac-a-p{n}",
                                           reason=f"r{n}", ip=f"10.0.0.{n}"), name) for name in EVENT_FIELDS)
        assert sealer.tags(values) == fresh_tags(KEY, values), n
        sizes.append(len(sealer._tags))
        assert sizes[-1] <= 20 + remembered
    assert min(sizes[3:]) < max(sizes)  # emptied on the way, not grown for ever


def test_each_key_has_one_sealer_in_the_process():
    """The key's HMAC state is set up once per process; another key has its own, and its own tags.
    (A key of this test's own: other tests' keys have their sealers already.)"""
    key = os.urandom(32)
    assert audit.sealer(key) is audit.sealer(key)
    assert audit.sealer(key) is not audit.sealer(KEY)
    values = _canonical(getattr(event(1), name) for name in EVENT_FIELDS)
    assert audit.sealer(key).tags(values) == fresh_tags(key, values) != fresh_tags(KEY, values)


# -- checkpoints and signers ----------------------------------------------------------------------

def test_a_checkpoint_line_is_signed_with_the_current_key():
    keys = Keyring({OTHER_KID: OTHER_KEY, KID: KEY}, KID)
    point = orjson.loads(Checkpoints(None).line(keys, Head(9, "ab" * 32)))
    assert (point["seq"], point["hash"], point["kid"]) == (9, "ab" * 32, KID)
    message = f"checkpoint|9|{'ab' * 32}|{point['at']}".encode()
    assert point["mac"] == hmac.new(KEY, message, hashlib.sha256).hexdigest()
    assert datetime.fromisoformat(point["at"].replace("Z", "+00:00")).tzinfo is not None


def test_checkpoints_are_written_at_most_once_a_period_unless_forced(tmp_path):
    keys = Keyring({KID: KEY}, KID)
    Checkpoints(None).write(keys, Head(1, "a" * 64), force=True)  # no file: nothing to do
    path = tmp_path / "audit" / "trail" / "checkpoints.jsonl"  # folders made as needed
    points = Checkpoints(path)
    points.write(keys, Head(0, GENESIS), force=True)  # an empty chain has no head to record
    assert not path.exists()
    points.write(keys, Head(1, "a" * 64))
    points.write(keys, Head(2, "b" * 64))  # within the period: skipped
    points.write(keys, Head(3, "c" * 64), force=True)
    assert [p["seq"] for _, p in Checkpoints.read(path)] == [1, 3]
    assert os.stat(path).st_mode & 0o777 == 0o640
    assert path.read_bytes().endswith(b"\n") and path.read_bytes().count(b"\n") == 2


class SyslogListener(socketserver.UnixDatagramServer):
    """A local syslog daemon's socket, as far as a sender can tell: it keeps each datagram."""

    def __init__(self, path):
        self.received: list[bytes] = []
        super().__init__(str(path), Keep)


class Keep(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.server.received.append(self.request[0])


def test_checkpoints_reach_a_syslog_socket_and_survive_its_absence(tmp_path, caplog):
    keys, socket_path = Keyring({KID: KEY}, KID), tmp_path / "log.sock"
    points = Checkpoints(tmp_path / "points.jsonl", syslog=str(socket_path))
    with SyslogListener(socket_path) as server:
        points.write(keys, Head(4, "d" * 64), force=True)
        points.write(keys, Head(5, "e" * 64))  # within the period: neither the file nor syslog
        points.write(keys, Head(6, "f" * 64), force=True)
        server.timeout = 0.5  # each datagram sent is already queued on the socket; a third would be read too
        for _ in range(3):
            server.handle_request()
    lines = [line for _, line in Checkpoints.read(points.path)]
    prefix = f"<85>telemed-audit[{os.getpid()}]: ".encode()  # authpriv.notice
    assert server.received == [prefix + orjson.dumps(line) for line in lines]
    assert [line["seq"] for line in lines] == [4, 6]
    socket_path.unlink()
    with caplog.at_level(logging.WARNING, logger="telemed.audit"):
        points.write(keys, Head(7, "a" * 64), force=True)  # syslog down: the file still has it
    assert [line["seq"] for _, line in Checkpoints.read(points.path)] == [4, 6, 7]
    [warned] = [r for r in caplog.records if r.name == "telemed.audit"]
    assert warned.getMessage() == "audit checkpoint not sent to syslog"
    assert warned.socket == str(socket_path) and "No such file" in warned.error  # which socket, and why


def test_the_installed_signer_sends_to_syslog_only_when_asked(monkeypatch, tmp_path):
    monkeypatch.setattr(audit, "_installed", None)
    monkeypatch.setenv("TELEMED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TELEMED_AUDIT_KEY", KEY.hex())
    monkeypatch.setenv("TELEMED_AUDIT_SYSLOG_SOCKET", str(tmp_path / "log.sock"))
    monkeypatch.delenv("TELEMED_AUDIT_SYSLOG", raising=False)
    monkeypatch.delenv("TELEMED_CONFIG", raising=False)
    assert audit.installed().checkpoints.syslog is None
    monkeypatch.setattr(audit, "_installed", None)
    monkeypatch.setenv("TELEMED_AUDIT_SYSLOG", "yes")
    assert audit.installed().checkpoints.syslog == str(tmp_path / "log.sock")


def test_checkpoint_lines_that_are_not_checkpoints(tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    assert list(Checkpoints.read(path)) == []
    path.write_bytes(b'{"seq": 1}\nnot json\n[1, 2]\n')
    assert list(Checkpoints.read(path)) == [(1, {"seq": 1}), (2, None), (3, None)]


def test_a_signer_travels_to_a_child_through_its_environment(tmp_path):
    sent = Signer(Keyring({OTHER_KID: OTHER_KEY, KID: KEY}, KID), Checkpoints(tmp_path / "c.jsonl", syslog="/run/x.sock"))
    received = Signer.from_env(sent.to_env())
    assert received.keys == sent.keys
    assert (received.checkpoints.path, received.checkpoints.syslog) == (tmp_path / "c.jsonl", "/run/x.sock")
    bare = Signer.from_env(signer().to_env())
    assert (bare.checkpoints.path, bare.checkpoints.syslog) == (None, None)


def test_the_installed_signer_seals_when_none_is_given(rolled_back, monkeypatch):
    session, _ = rolled_back
    monkeypatch.setattr(audit, "_installed", None)
    audit.install(signer(keys={OTHER_KID: OTHER_KEY}, current=OTHER_KID))
    assert audit.installed().keys.current_id == OTHER_KID
    append(session, [event(1)])
    assert session.exec(select(AuditEntry.key_id)).one() == OTHER_KID


def test_the_default_signer_comes_from_the_settings(monkeypatch, tmp_path):
    monkeypatch.setattr(audit, "_installed", None)
    for name in ("TELEMED_CONFIG", "TELEMED_AUDIT_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TELEMED_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TELEMED_AUDIT_KEY", KEY.hex())
    monkeypatch.setenv("TELEMED_AUDIT_CHECKPOINTS", str(tmp_path / "points.jsonl"))
    monkeypatch.setenv("TELEMED_AUDIT_SYSLOG", "1")
    made = audit.installed()
    assert made.keys == Keyring({KID: KEY}, KID)
    assert (made.checkpoints.path, made.checkpoints.syslog) == (tmp_path / "points.jsonl", "/dev/log")
    assert audit.installed() is made  # read once


# -- appending ------------------------------------------------------------------------------------

def test_append_links_each_entry_to_the_one_before(rolled_back):
    session, _ = rolled_back
    first = append(session, [event(1), event(2)], signer())
    second = append(session, [event(3)], signer())
    rows = session.exec(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert [r.seq for r in rows] == [1, 2, 3]
    assert [r.prev_hash for r in rows] == [GENESIS, rows[0].hash, rows[1].hash]
    assert first == Head(2, rows[1].hash) and second == Head(3, rows[2].hash)
    assert {r.key_id for r in rows} == {KID} and all(len(r.field_tags) == TAG_HEX * len(EVENT_FIELDS) for r in rows)
    assert append(session, [], signer()) == second  # nothing to add: the head stays
    assert problems(session) == []


def test_an_entry_is_found_by_its_time_as_the_orm_asks(rolled_back):
    """The raw INSERT sends times as the ORM would (on SQLite, its text form): left to the driver,
    an instant on a whole second is stored as '08:01:00+00:00', which sorts before the ORM's
    '08:01:00.000000', so a search from that instant misses the entry."""
    session, _ = rolled_back
    append(session, [event(1)], signer())
    at = event(1).ts
    assert session.exec(select(AuditEntry.seq).where(AuditEntry.ts >= at)).all() == [1]
    assert session.exec(select(AuditEntry.seq).where(AuditEntry.ts == at)).all() == [1]
    assert session.exec(select(AuditEntry.ts)).one() == at


@pytest.mark.parametrize("rows", [3, 7])
def test_more_rows_than_one_insert_takes(rolled_back, monkeypatch, rows):
    session, _ = rolled_back
    monkeypatch.setattr(audit, "INSERT_ROWS", 3)
    assert append(session, [event(n) for n in range(1, rows + 1)], signer()).seq == rows
    assert session.exec(select(AuditEntry.seq).order_by(AuditEntry.seq)).all() == list(range(1, rows + 1))


def test_indexed_through_whole_blocks():
    every = audit.PATIENT_INDEX_EVERY
    assert [indexed_through(n) for n in (0, 1, every - 1, every, every + 1, 3 * every + 5)] == [
        0, 0, 0, every, every, 3 * every]


def test_entries_reach_the_detainee_index_block_by_block(rolled_back, monkeypatch):
    session, _ = rolled_back
    monkeypatch.setattr(audit, "PATIENT_INDEX_EVERY", 3)
    patients = ["fac-a-p1", None, "fac-a-p2", "fac-a-p1", "fac-a-p1", None, "fac-a-p2", "fac-a-p1"]
    append(session, [event(n, patient_id=p) for n, p in enumerate(patients[:4], start=1)], signer())
    assert set(session.exec(select(AuditPatient.patient_id, AuditPatient.seq)).all()) == {
        ("fac-a-p1", 1), ("fac-a-p2", 3)}
    append(session, [event(n, patient_id=p) for n, p in enumerate(patients[4:], start=5)], signer())
    assert set(session.exec(select(AuditPatient.patient_id, AuditPatient.seq)).all()) == {
        ("fac-a-p1", 1), ("fac-a-p2", 3), ("fac-a-p1", 4), ("fac-a-p1", 5)}
    found = session.exec(select(AuditEntry.seq).where(about_patients(session, ["fac-a-p1"]))).all()
    assert sorted(found) == [1, 4, 5, 8]  # 1-6 through the index, 7-8 by their own column
    assert sorted(session.exec(select(AuditEntry.seq).where(about_patients(session, ["fac-a-p2"]))).all()) == [3, 7]


# -- verify: every field, every link --------------------------------------------------------------

TAMPERED = {
    "action": "fhir.search", "outcome": "denied", "user_id": 4, "username": "doc-b", "role": "specialist",
    "patient_id": "fac-b-p1", "resource": "Observation/other", "reason": "added later", "ip": "10.0.0.9",
    "request_id": "r-forged", "break_glass": True, "ts": datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
}


def test_every_field_is_covered():
    assert set(TAMPERED) == set(EVENT_FIELDS)


@pytest.mark.parametrize("name", list(TAMPERED))
def test_a_changed_field_is_named(rolled_back, name):
    session, _ = rolled_back
    append(session, [event(1), event(2), event(3)], signer())
    execute(session, f"UPDATE audit_entry SET {name} = :value WHERE seq = 2", value=TAMPERED[name])
    assert problems(session) == [(2, f"field {name} changed after it was written")]


def test_several_changed_fields_are_named_up_to_half_of_them(rolled_back):
    """Past half the fields changed, the entry reads as rewritten rather than edited."""
    session, _ = rolled_back
    append(session, [event(1), event(2), event(3)], signer())
    names = list(TAMPERED)
    for count in (2, 6):
        execute(session, "UPDATE audit_entry SET " + ", ".join(f"{n} = :{n}" for n in names[:count]) + " WHERE seq = 2",
                **{n: TAMPERED[n] for n in names[:count]})
        assert problems(session) == [(2, f"field {', '.join(names[:count])} changed after it was written")]
    execute(session, f"UPDATE audit_entry SET {names[6]} = :v WHERE seq = 2", v=TAMPERED[names[6]])
    assert problems(session) == [(2, MAC_MISMATCH)]


def test_an_untouched_chain_checks_every_entry_in_chunks(rolled_back):
    session, _ = rolled_back
    append(session, [event(n) for n in range(1, 6)], signer())
    assert verify(session, signer(), chunk=2) == (5, [])
    assert verify(session, signer()) == (5, [])


def test_a_changed_link_is_found(rolled_back):
    session, _ = rolled_back
    append(session, [event(1), event(2), event(3)], signer())
    execute(session, "UPDATE audit_entry SET prev_hash = :p WHERE seq = 2", p="f" * 64)
    assert problems(session) == [(2, "does not link to the entry before it"), (2, MAC_MISMATCH)]


def test_a_changed_seal_breaks_the_next_link(rolled_back):
    session, _ = rolled_back
    append(session, [event(1), event(2), event(3)], signer())
    execute(session, "UPDATE audit_entry SET hash = :h WHERE seq = 2", h="e" * 64)
    assert problems(session) == [(2, MAC_MISMATCH), (3, "does not link to the entry before it")]


def test_changed_tags_are_not_taken_for_a_changed_field(rolled_back):
    session, _ = rolled_back
    append(session, [event(1), event(2)], signer())
    execute(session, "UPDATE audit_entry SET field_tags = :t WHERE seq = 1", t="0" * TAG_HEX * len(EVENT_FIELDS))
    execute(session, "UPDATE audit_entry SET field_tags = :t WHERE seq = 2", t="0" * TAG_HEX)
    assert problems(session) == [(1, MAC_MISMATCH), (2, MAC_MISMATCH)]


def test_a_deleted_entry_leaves_a_gap(rolled_back):
    session, _ = rolled_back
    append(session, [event(n) for n in range(1, 6)], signer())
    execute(session, "DELETE FROM audit_entry WHERE seq IN (2, 3)")
    assert problems(session) == [(4, "entries 2..3 are missing (deleted)"), (4, "does not link to the entry before it")]


def test_a_renumbered_chain_breaks_the_seal(rolled_back):
    session, _ = rolled_back
    append(session, [event(1), event(2), event(3)], signer())
    execute(session, "DELETE FROM audit_entry WHERE seq = 2")
    execute(session, "UPDATE audit_entry SET seq = 2 WHERE seq = 3")
    assert problems(session) == [(2, "does not link to the entry before it"), (2, MAC_MISMATCH)]


def test_a_key_outside_the_keyring_is_named(rolled_back):
    session, _ = rolled_back
    append(session, [event(1), event(2)], signer())
    execute(session, "UPDATE audit_entry SET key_id = 'ffffffffffff' WHERE seq = 2")
    assert problems(session) == [
        (2, "sealed with key ffffffffffff, which is not in the keyring: forged, or the key was lost")]
    assert problems(session, signer(keys={OTHER_KID: OTHER_KEY}, current=OTHER_KID))[0] == (
        1, f"sealed with key {KID}, which is not in the keyring: forged, or the key was lost")


def test_entries_of_a_rotated_key_verify_with_the_whole_keyring(rolled_back):
    session, _ = rolled_back
    append(session, [event(1)], signer())
    rotated = signer(keys={KID: KEY, OTHER_KID: OTHER_KEY}, current=OTHER_KID)
    append(session, [event(2)], rotated)
    assert session.exec(select(AuditEntry.key_id).order_by(AuditEntry.seq)).all() == [KID, OTHER_KID]
    assert problems(session, rotated) == []


def legacy_entries(session, count: int) -> None:
    prev = GENESIS
    for n in range(1, count + 1):
        values = {name: getattr(event(n), name) for name in EVENT_FIELDS}
        digest = legacy_hash(n, prev, values)
        session.add(AuditEntry(seq=n, prev_hash=prev, hash=digest, **values))
        prev = digest
    session.flush()


def test_unkeyed_entries_verify_only_as_the_chains_prefix(rolled_back):
    session, _ = rolled_back
    legacy_entries(session, 2)
    append(session, [event(3), event(4)], signer())
    assert problems(session) == []
    execute(session, "UPDATE audit_entry SET reason = 'x' WHERE seq = 2")
    assert problems(session) == [
        (2, "content changed after it was written (an unkeyed entry from before migration 0016)")]
    execute(session, "UPDATE audit_entry SET reason = '' WHERE seq = 2")
    execute(session, "UPDATE audit_entry SET key_id = '' WHERE seq = 4")
    assert problems(session) == [
        (4, "has no key id after keyed entries: the chain was recomputed without the audit key")]


# -- verify: the checkpoints ----------------------------------------------------------------------

def checkpointed(session, tmp_path, count: int = 3):
    path = tmp_path / "checkpoints.jsonl"
    sealer = signer(path)
    head = append(session, [event(n) for n in range(1, count + 1)], sealer)
    sealer.checkpoints.write(sealer.keys, head, force=True)
    return sealer, path, orjson.loads(path.read_bytes().splitlines()[-1])


def test_a_chain_that_matches_its_checkpoints(rolled_back, tmp_path):
    session, _ = rolled_back
    sealer, path, _ = checkpointed(session, tmp_path)
    assert problems(session, sealer) == []
    assert problems(session, signer(), checkpoints=path) == []


def test_a_truncated_tail_is_found(rolled_back, tmp_path):
    session, _ = rolled_back
    sealer, _, point = checkpointed(session, tmp_path, 4)
    execute(session, "DELETE FROM audit_entry WHERE seq >= 3")
    assert problems(session, sealer) == [
        (3, f"entries 3..4 are gone: the checkpoint of {point['at']} names entry 4; the tail was truncated")]


def test_an_emptied_table_is_found(rolled_back, tmp_path):
    session, _ = rolled_back
    sealer, _, point = checkpointed(session, tmp_path)
    execute(session, "DELETE FROM audit_entry")
    assert problems(session, sealer) == [
        (0, f"the trail is empty, but the checkpoint of {point['at']} names entry 3: the table was emptied")]


def test_a_rewritten_head_differs_from_its_checkpoint(rolled_back, tmp_path):
    session, _ = rolled_back
    sealer, _, point = checkpointed(session, tmp_path)
    execute(session, "UPDATE audit_entry SET hash = :h WHERE seq = 3", h="d" * 64)
    assert problems(session, sealer) == [
        (3, MAC_MISMATCH), (3, f"differs from the checkpoint of {point['at']}: the chain was rewritten")]


def test_a_checkpoint_behind_the_head_is_no_problem(rolled_back, tmp_path):
    session, _ = rolled_back
    sealer, _, _ = checkpointed(session, tmp_path)
    append(session, [event(4)], sealer)
    assert problems(session, sealer) == []


def test_unsigned_checkpoint_lines_are_named(rolled_back, tmp_path):
    session, _ = rolled_back
    sealer, path, point = checkpointed(session, tmp_path)
    forged = {**point, "seq": 9, "mac": "0" * 64}
    unknown = {**point, "kid": "nokey"}
    bad_seq = {**point, "seq": "nine"}
    with path.open("ab") as out:
        for line in (b"not json", orjson.dumps(forged), orjson.dumps(unknown), orjson.dumps(bad_seq), b"[]",
                     orjson.dumps({"seq": 3})):
            out.write(line + b"\n")
    assert problems(session, sealer) == [
        (0, f"checkpoint line {n} of {path} is not signed with an audit key") for n in range(2, 8)]


def test_keyed_entries_without_checkpoints_are_reported(rolled_back, tmp_path):
    session, _ = rolled_back
    path = tmp_path / "none.jsonl"
    assert problems(session, signer(path)) == []  # an empty trail needs no checkpoint
    legacy_entries(session, 2)
    assert problems(session, signer(path)) == []  # nor does an unkeyed one
    append(session, [event(3)], signer(path))
    assert problems(session, signer(path)) == [(0, f"no checkpoints in {path}: a truncated tail cannot be detected")]
    assert problems(session, signer(None)) == []  # no checkpoint file configured: nothing to hold it to


# -- the writer -----------------------------------------------------------------------------------

@pytest.fixture
def engine(tmp_path):
    """A migrated SQLite database of this test's own, for writers that commit."""
    path = tmp_path / "telemed.db"
    shutil.copyfile(_sqlite_template()[0], path)
    made = make_engine(f"sqlite:///{path}", pool_size=2)
    yield made
    made.dispose()


def test_a_batch_is_written_or_given_up_after_twenty_tries(engine, tmp_path, caplog):
    other = signer(keys={OTHER_KID: OTHER_KEY}, current=OTHER_KID)
    assert write_batch(engine, [event(1), event(2)], other) == Head(2, write_batch(engine, [], other).hash)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT DISTINCT key_id FROM audit_entry")).all() == [(OTHER_KID,)]
    broken = make_engine(f"sqlite:///{tmp_path / 'empty.db'}", pool_size=1)  # no tables at all
    with caplog.at_level(logging.WARNING, logger="telemed.audit"):
        assert write_batch(broken, [event(1), event(2)], signer()) is None
    broken.dispose()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"audit append retry {n}" for n in range(1, 21)] + ["audit append failed for 2 events"]


def test_the_writer_process_writes_each_batch_on_the_connection_it_keeps(engine):
    """The writer process keeps one connection for all its batches: each batch is committed on it,
    sealed with the signer it was given, and linked to the batch before."""
    other = signer(keys={OTHER_KID: OTHER_KEY}, current=OTHER_KID)
    with engine.connect() as kept:
        first = write_batch(kept, [event(1), event(2)], other)
        second = write_batch(kept, [event(3)], other)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT seq, prev_hash, hash, key_id FROM audit_entry ORDER BY seq")).all()
    assert [(r.seq, r.key_id) for r in rows] == [(1, OTHER_KID), (2, OTHER_KID), (3, OTHER_KID)]
    assert (first, second) == (Head(2, rows[1].hash), Head(3, rows[2].hash)) and rows[2].prev_hash == first.hash


def test_the_writer_commits_what_is_recorded_and_checkpoints_on_close(engine, tmp_path):
    path = tmp_path / "checkpoints.jsonl"
    log = AuditLog(engine, signer(path), batch=2)
    tickets = [log.record(event(n)) for n in range(1, 6)]
    assert tickets == [1, 2, 3, 4, 5]
    log.flush()
    assert asyncio.run(log.durable(5)) is True
    log.close()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT key_id, count(*) FROM audit_entry GROUP BY key_id")).all() == [(KID, 5)]
    assert [p["seq"] for _, p in Checkpoints.read(path)][-1] == 5


def test_a_failed_write_is_reported_to_its_waiters(tmp_path, caplog):
    broken = make_engine(f"sqlite:///{tmp_path / 'empty.db'}", pool_size=1)  # no tables at all
    log = AuditLog(broken, signer())
    with caplog.at_level(logging.ERROR, logger="telemed.audit"):
        ticket = log.record(event(1))
        log.flush()
        assert asyncio.run(log.durable(ticket)) is False
    log.close()
    broken.dispose()


def test_the_writer_is_a_named_daemon_thread(engine):
    """Named for an operator's thread dump; a daemon, so that a stuck write never holds the
    process open at exit."""
    before = set(threading.enumerate())
    log = AuditLog(engine, signer())
    try:
        started = [t for t in threading.enumerate() if t not in before]
        assert [(t.name, t.daemon) for t in started] == [("audit-writer", True)]
    finally:
        log.close()


def test_tickets_are_committed_in_order():
    commits = Commits()
    assert commits.wait(timeout=0) is True  # nothing issued: nothing to wait for
    assert (commits.issued, commits.committed, commits.failed) == (0, 0, [])
    commits.advance(1)
    assert asyncio.run(commits.durable(1)) is True
    commits = Commits()
    with commits.lock:
        assert (commits.issue(), commits.issue(), commits.issue()) == (1, 2, 3)
    assert commits.issued == 3
    assert commits.wait(1, timeout=0) is False
    commits.advance(2)
    assert commits.committed == 2 and commits.wait(1, timeout=0) and commits.wait(2, timeout=0)
    assert commits.wait(timeout=0) is False  # by default: the last ticket issued
    commits.advance(1)
    assert commits.committed == 2  # never goes back
    commits.advance(3, ok=False)
    assert (commits.committed, commits.failed) == (3, [(3, 3)])
    commits.advance(3)
    assert commits.failed == [(3, 3)]


def test_a_waiter_learns_whether_its_own_entry_was_committed():
    async def scenario():
        commits = Commits()
        commits.advance(2)
        assert await commits.durable(2) is True
        commits.advance(3, ok=False)
        assert await commits.durable(3) is False  # its write failed
        waiting = [asyncio.ensure_future(commits.durable(t)) for t in (5, 4, 6)]
        await asyncio.sleep(0)
        threading.Thread(target=commits.advance, args=(4,)).start()
        assert await waiting[1] is True
        assert not waiting[0].done() and not waiting[2].done()
        commits.advance(5, ok=False)
        assert await waiting[0] is False
        assert await commits.durable(6, timeout=0.01) is False  # not committed in time: gives up
        commits.advance(6)  # the one that gave up is left alone (its future is cancelled)
        assert await waiting[2] is True

    asyncio.run(scenario())


def test_a_failed_write_fails_only_its_own_tickets():
    """One failed commit says nothing about the commits before or after it."""
    async def scenario():
        commits = Commits()
        commits.advance(3)
        commits.advance(6, ok=False)
        commits.advance(8)
        assert [await commits.durable(t) for t in range(1, 9)] == [True] * 3 + [False] * 3 + [True] * 2
        commits.advance(5, ok=False)  # a late report of what is already settled changes nothing
        assert await commits.durable(2) is True and commits.failed == [(4, 6)]

    asyncio.run(scenario())


def test_a_settled_waiter_is_left_alone():
    async def scenario():
        future = asyncio.get_running_loop().create_future()
        future.set_result(True)
        audit._settle(future, False)
        assert future.result() is True
        pending = asyncio.get_running_loop().create_future()
        audit._settle(pending, False)
        assert pending.result() is False

    asyncio.run(scenario())


# -- the FHIR export ------------------------------------------------------------------------------

def entry(**fields) -> AuditEntry:
    values = dict(seq=12, ts=AT, action="fhir.read", outcome="allowed", prev_hash="a" * 64, hash="b" * 64,
                  key_id=KID)
    return AuditEntry(**{**values, **fields})


def test_a_full_entry_as_a_fhir_audit_event():
    full = entry(username="doc-a", role="facility_doctor", ip="10.0.0.1", reason="transferred, chest pain",
                 break_glass=True, patient_id="fac-b-p1", resource="Observation/o1")
    assert to_fhir(full) == {
        "resourceType": "AuditEvent",
        "id": "audit-12",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "RESTful Operation"},
        "subtype": [{"system": "urn:telemed:audit-action", "code": "fhir.read"}],
        "action": "R",
        "recorded": "2026-11-24T08:30:00.000Z",
        "outcome": "0",
        "agent": [{"who": {"identifier": {"system": "urn:telemed:user", "value": "doc-a"}}, "requestor": True,
                   "network": {"address": "10.0.0.1", "type": "2"}, "role": [{"text": "facility_doctor"}]}],
        "source": {"observer": {"display": "telemed"}},
        "extension": [{"url": "urn:telemed:audit-hash", "valueString": "b" * 64},
                      {"url": "urn:telemed:audit-prev-hash", "valueString": "a" * 64},
                      {"url": "urn:telemed:audit-key-id", "valueString": KID}],
        "outcomeDesc": "transferred, chest pain",
        "purposeOfEvent": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                                        "code": "ETREAT", "display": "Emergency Treatment"}]}],
        "entity": [{"what": {"reference": "Patient/fac-b-p1"},
                    "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "1"}},
                   {"what": {"reference": "Observation/o1"}}],
    }


def test_a_bare_entry_as_a_fhir_audit_event():
    bare = to_fhir(entry(action="login", outcome="strange"))
    assert bare["agent"] == [{"who": {"identifier": {"system": "urn:telemed:user", "value": "anonymous"}},
                              "requestor": True, "network": {"address": "unknown", "type": "2"}}]
    assert (bare["action"], bare["outcome"]) == ("E", "8")
    assert not {"outcomeDesc", "purposeOfEvent", "entity"} & set(bare)
    own = to_fhir(entry(patient_id="fac-a-p1", resource="Patient/fac-a-p1"))
    assert [e["what"]["reference"] for e in own["entity"]] == ["Patient/fac-a-p1"]
    assert [e["what"]["reference"] for e in to_fhir(entry(resource="Organization/fac-a"))["entity"]] == [
        "Organization/fac-a"]


@pytest.mark.parametrize("action, code", [("fhir.read", "R"), ("fhir.search", "E"), ("fhir.create", "C"),
                                          ("fhir.update", "U"), ("fhir.delete", "D"), ("fhir.execute", "E"),
                                          ("transfer", "E")])
def test_actions_map_to_fhir_codes(action, code):
    assert to_fhir(entry(action=action))["action"] == code


@pytest.mark.parametrize("outcome, code", [("allowed", "0"), ("denied", "4"), ("error", "8")])
def test_outcomes_map_to_fhir_codes(outcome, code):
    assert to_fhir(entry(outcome=outcome))["outcome"] == code


def test_chain_problem_is_a_value():
    assert ChainProblem(1, "x") == ChainProblem(1, "x") != ChainProblem(2, "x")


# -- the bounds on waiting: stated outright, and each passed on to where it applies ---------------

class Bounds:
    """Stands in for what does the waiting, to read the bound it is given (no clock involved)."""

    def __init__(self) -> None:
        self.seen: list[float | None] = []

    def wait_for(self, predicate, timeout=None) -> bool:  # threading.Condition's
        self.seen.append(timeout)
        return predicate()

    def notify_all(self) -> None:
        pass

    def wait(self, ticket=None, timeout=None) -> bool:  # Commits'
        self.seen.append(timeout)
        return True


def test_waiting_for_a_write_gives_up_after_ten_seconds_by_default(engine, monkeypatch):
    """The documented bound a request or a flush waits for a stuck write (README: Audit trail)."""
    commits = Commits()
    commits._changed = condition = Bounds()
    commits.wait()
    assert condition.seen == [10.0]

    async def waiting() -> bool:
        loop, commits = asyncio.get_running_loop(), Commits()
        call_later = loop.call_later

        def timer(delay, *args):
            condition.seen.append(delay)
            return call_later(delay, *args)

        monkeypatch.setattr(loop, "call_later", timer)
        request = asyncio.ensure_future(commits.durable(1))
        await asyncio.sleep(0)
        commits.advance(1)
        return await request

    assert asyncio.run(waiting()) is True
    assert condition.seen == [10.0, 10.0]
    log = AuditLog(engine, signer())
    try:
        real, log.commits = log.commits, Bounds()
        log.flush()
        assert log.commits.seen == [10.0]
    finally:
        log.commits = real
        log.close()


def test_flush_waits_no_longer_than_it_is_told(engine):
    log = AuditLog(engine, signer())
    try:
        with log.commits.lock:
            log.commits.issue()  # a ticket that no event was queued under: it is never committed
        log.flush(timeout=0.01)  # returns, not blocked for ever
        assert log.commits.committed == 0
    finally:
        log.commits.advance(log.commits.issued)
        log.close()


def test_close_waits_five_seconds_at_most_for_a_stuck_writer(engine):
    log = AuditLog(engine, signer())
    writer, waited = log._thread, []

    class Stuck:
        def join(self, timeout=None):
            waited.append(timeout)

    log._thread = Stuck()
    log.close()
    assert waited == [5]
    log._closing = True
    writer.join()


def test_a_checkpoint_is_due_exactly_one_period_after_the_last(tmp_path, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(audit.time, "monotonic", lambda: clock[0])
    keys, points = Keyring({KID: KEY}, KID), Checkpoints(tmp_path / "points.jsonl")
    points.write(keys, Head(1, "a" * 64))
    clock[0] += audit.CHECKPOINT_SECONDS - 0.25
    points.write(keys, Head(2, "b" * 64))  # within the period: skipped
    clock[0] += 0.25
    points.write(keys, Head(3, "c" * 64))  # one whole period on: written
    assert [p["seq"] for _, p in Checkpoints.read(points.path)] == [1, 3]


def test_a_session_writer_checkpoints_the_head_it_committed(engine, tmp_path, monkeypatch):
    """An import or an analyzer's filing appends in its own session: the head it committed is
    checkpointed on commit, the last one of the session, once, however soon after the last
    checkpoint (the clock stands still here); a rolled-back one never."""
    from sqlmodel import Session

    monkeypatch.setattr(audit.time, "monotonic", lambda: 5000.0)
    path, sealer = tmp_path / "points.jsonl", signer(tmp_path / "points.jsonl")
    with Session(engine) as session:
        append(session, [event(1)], sealer)
        session.rollback()
        session.commit()
        assert not path.exists()
        append(session, [event(1)], sealer)
        first = append(session, [event(2)], sealer)
        session.commit()
        session.commit()  # nothing appended since: no second line
        second = append(session, [event(3)], sealer)
        session.commit()  # within the period of the last checkpoint: written all the same
    assert [(p["seq"], p["hash"]) for _, p in Checkpoints.read(path)] == [(2, first.hash), (3, second.hash)]


def test_a_field_is_cut_to_its_column_and_a_nul_replaced(rolled_back):
    """PostgreSQL refuses NUL in text: the entry keeps the rest, the NUL shown as U+FFFD; a field
    longer than its column is cut to it, on both databases alike."""
    session, _ = rolled_back
    append(session, [event(1, reason="line\x00break", resource="Observation/" + "o" * 300)], signer())
    row = session.exec(select(AuditEntry)).one()
    assert row.reason == "line\ufffdbreak"
    assert row.resource == ("Observation/" + "o" * 300)[:200]


def test_a_rollback_after_a_committed_append_is_harmless(engine, tmp_path):
    """The session writer's rollback hook forgets a pending head; with none pending it does nothing."""
    from sqlmodel import Session

    with Session(engine) as session:
        append(session, [event(1)], signer(tmp_path / "points.jsonl"))
        session.commit()
        session.execute(select(AuditEntry.seq)).all()  # a new transaction, nothing appended in it
        session.rollback()
        assert "audit_head" not in session.info
