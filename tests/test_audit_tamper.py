"""Someone with write access to the database, but not the audit key, rewrites the trail: each
way is found and named by ``telemed audit verify``, run as an operator runs it."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import pytest
from sqlalchemy import text

from telemed.audit import EVENT_FIELDS, GENESIS, _canonical, field_tags, legacy_hash, seal
from telemed.models import AuditEntry
from tests.conftest import both_databases
from tests.served import cli


@pytest.fixture
async def trail(client, context, world, login):
    """Some 40 entries written through the real server, the writer closed (its last checkpoint
    written), and ``telemed audit verify`` content with them."""
    headers = await login("doc-a")
    for _ in range(6):
        assert (await client.get("/api/detainees", headers=headers)).status == 200
    context.audit.close()
    return context


def run_verify(settings) -> tuple[int, str]:
    done = cli(settings, "audit", "verify")
    return done.returncode, done.stdout


def rows(context) -> list[AuditEntry]:
    from sqlmodel import select

    return context.db.call(lambda s: list(s.exec(select(AuditEntry).order_by(AuditEntry.seq))))


def execute(context, sql: str, **params) -> None:
    with context.db.engine.begin() as conn:
        conn.execute(text(sql), params)


def rewrite_from(context, start: int, sealer) -> None:
    """Recompute the chain from entry ``start`` on, as an attacker without the key would."""
    entries = rows(context)
    prev = entries[start - 2].hash if start > 1 else GENESIS
    for entry in entries[start - 1:]:
        kid, tags, digest = sealer(entry, prev)
        execute(context, "UPDATE audit_entry SET prev_hash = :p, key_id = :k, field_tags = :t, hash = :h WHERE seq = :s",
                p=prev, k=kid, t=tags, h=digest, s=entry.seq)
        prev = digest


@both_databases
async def test_an_untouched_trail_verifies(trail, settings):
    code, out = run_verify(settings)
    assert code == 0, out
    assert " 0 problem(s)" in out


@both_databases
async def test_a_changed_field_is_named(trail, settings):
    execute(trail, "UPDATE audit_entry SET outcome = 'denied' WHERE seq = 7")
    code, out = run_verify(settings)
    assert code == 1 and "entry 7: field outcome changed after it was written" in out


@both_databases
async def test_a_deleted_entry_is_named(trail, settings):
    execute(trail, "DELETE FROM audit_entry WHERE seq = 12")
    code, out = run_verify(settings)
    assert code == 1 and "entry 13: entries 12..12 are missing (deleted)" in out


@both_databases
async def test_a_truncated_tail_is_found_by_the_checkpoints(trail, settings):
    last = rows(trail)[-1].seq
    execute(trail, "DELETE FROM audit_entry WHERE seq > :s", s=last - 5)
    code, out = run_verify(settings)
    assert code == 1 and f"entries {last - 4}..{last} are gone" in out and "the tail was truncated" in out


@both_databases
async def test_an_emptied_table_is_found_by_the_checkpoints(trail, settings):
    execute(trail, "DELETE FROM audit_patient")
    execute(trail, "DELETE FROM audit_entry")
    code, out = run_verify(settings)
    assert code == 1 and "the trail is empty" in out and "the table was emptied" in out


@both_databases
async def test_a_chain_recomputed_with_another_key_is_found(trail, settings):
    guessed = secrets.token_bytes(32)

    def sealer(entry, prev):
        values = _canonical(getattr(entry, name) for name in EVENT_FIELDS)
        tags = field_tags(guessed, values)
        return entry.key_id, tags, seal(guessed, entry.seq, prev, entry.key_id, tags, values)

    execute(trail, "UPDATE audit_entry SET outcome = 'denied' WHERE seq = 9")
    rewrite_from(trail, 9, sealer)
    code, out = run_verify(settings)
    assert code == 1
    assert "entry 10: its MAC does not match: rewritten, or the chain was recomputed without the audit key" in out
    assert "differs from the checkpoint" in out


@both_databases
async def test_a_chain_recomputed_by_the_old_unkeyed_rule_is_found(trail, settings):
    """The whole trail recomputed as if it predated the keys: only the checkpoints can tell."""
    def sealer(entry, prev):
        event = dict(zip(EVENT_FIELDS, _canonical(getattr(entry, name) for name in EVENT_FIELDS)))
        return "", "", legacy_hash(entry.seq, prev, event)

    execute(trail, "UPDATE audit_entry SET username = 'someone-else' WHERE seq = 3")
    rewrite_from(trail, 1, sealer)
    code, out = run_verify(settings)
    assert code == 1 and "differs from the checkpoint" in out and "the chain was rewritten" in out


@both_databases
async def test_a_forged_checkpoint_is_refused(trail, settings):
    path = settings.audit_checkpoint_path
    last = rows(trail)[-1]
    forged_mac = hmac.new(b"not-the-key", b"x", hashlib.sha256).hexdigest()
    with path.open("a") as out:
        out.write(f'{{"seq": {last.seq + 100}, "hash": "{"0" * 64}", "at": "2026-01-01T00:00:00Z", '
                  f'"kid": "{last.key_id}", "mac": "{forged_mac}"}}\n')
    code, out = run_verify(settings)
    assert code == 1 and "is not signed with an audit key" in out and "truncated" not in out


@both_databases
async def test_rotating_the_key_keeps_old_entries_verifiable(trail, settings):
    old_kid = rows(trail)[0].key_id
    rotated = cli(settings, "audit", "rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    entries = rows(trail)
    assert entries[-1].action == "audit.key.rotate" and entries[-1].key_id != old_kid
    assert old_kid in entries[-1].reason
    code, out = run_verify(settings)
    assert code == 0, out
    settings.audit_key_path.write_text(settings.audit_key_path.read_text().splitlines()[-1] + "\n")
    code, out = run_verify(settings)  # the old key lost: its entries can no longer be vouched for
    assert code == 1 and f"sealed with key {old_kid}, which is not in the keyring" in out
