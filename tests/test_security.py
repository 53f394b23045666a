from datetime import timedelta

import pytest

from telemed.models import User
from telemed.security import (LOCK_AFTER, SLOW_AFTER, LoginRefused, authenticate, hash_password,
                              verify_password)
from telemed.timeutil import utcnow
from tests.conftest import PASSWORD, both_databases


def test_passwords_are_argon2id():
    stored = hash_password("s3cret-passphrase")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "s3cret-passphrase")
    assert not verify_password(stored, "s3cret-passphrasE")
    assert not verify_password("not-a-hash", "x")


def _attempt(context, username, password, now):
    return context.db.call(authenticate, username, password, now)


@both_databases
def test_failed_logins_slow_down_then_lock(context, world):
    now = utcnow()
    for _ in range(SLOW_AFTER):
        with pytest.raises(LoginRefused) as refused:
            _attempt(context, "doc-a", "wrong-password", now)
        assert refused.value.status == 401
    # The brake: the next attempt within the delay is refused without checking the password.
    with pytest.raises(LoginRefused) as slowed:
        _attempt(context, "doc-a", PASSWORD, now)
    assert slowed.value.status == 429 and "try again in" in slowed.value.message
    # Keep failing, each after its delay, until the account locks.
    for n in range(SLOW_AFTER, LOCK_AFTER):
        now += timedelta(seconds=120)
        with pytest.raises(LoginRefused) as refused:
            _attempt(context, "doc-a", "wrong-password", now)
    assert refused.value.status == 423 and "locked" in refused.value.message
    # Even the right password is refused while locked.
    with pytest.raises(LoginRefused) as locked:
        _attempt(context, "doc-a", PASSWORD, now + timedelta(minutes=5))
    assert locked.value.status == 423
    # After the lock expires the right password works and resets the count.
    user = _attempt(context, "doc-a", PASSWORD, now + timedelta(minutes=16))
    assert context.db.call(lambda s: s.get(User, user.id).failed_logins) == 0


def test_unknown_user_is_a_plain_401(context, world):
    with pytest.raises(LoginRefused) as refused:
        _attempt(context, "nobody", "whatever-password", utcnow())
    assert refused.value.status == 401
    assert refused.value.message == "invalid username or password"
