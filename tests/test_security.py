import pytest
from sqlalchemy import create_engine

from telemed.models import LoginFailure
from telemed.security import hash_password, verify_password
from telemed.throttle import ADDRESS_FREE, MAX_WAIT, PAIR_FREE, LoginThrottle


@pytest.fixture
def brake() -> LoginThrottle:
    engine = create_engine("sqlite://")
    LoginFailure.__table__.create(engine)
    return LoginThrottle(engine)


def test_passwords_are_argon2id():
    stored = hash_password("s3cret-passphrase")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "s3cret-passphrase")
    assert not verify_password(stored, "s3cret-passphrasE")
    assert not verify_password("not-a-hash", "x")


def test_the_brake_doubles_per_failure_and_forgets_after_an_hour(brake):
    for n in range(PAIR_FREE):
        assert brake.wait("doc-a", "10.0.0.1", now=100.0) == 0
        brake.failed("doc-a", "10.0.0.1", now=100.0)
    assert brake.wait("doc-a", "10.0.0.1", now=100.0) == 1
    brake.failed("doc-a", "10.0.0.1", now=101.0)
    assert brake.wait("doc-a", "10.0.0.1", now=101.0) == 2
    assert brake.wait("doc-a", "10.0.0.2", now=101.0) == 0  # the owner, elsewhere
    assert brake.wait("doc-b", "10.0.0.1", now=101.0) == 0  # another account from the same address
    for _ in range(30):
        brake.failed("doc-a", "10.0.0.1", now=200.0)
    assert brake.wait("doc-a", "10.0.0.1", now=200.0) == MAX_WAIT
    assert brake.wait("doc-a", "10.0.0.1", now=200.0 + 3601) == 0


def test_an_address_that_guesses_many_accounts_is_slowed_for_all(brake):
    for n in range(ADDRESS_FREE):
        brake.failed(f"user-{n}", "10.0.0.9", now=50.0)
    assert brake.wait("anyone", "10.0.0.9", now=50.0) >= 1
    assert brake.wait("anyone", "10.0.0.8", now=50.0) == 0
    brake.clear_account("user-1")
    assert brake.wait("anyone", "10.0.0.9", now=50.0) >= 1  # clearing an account leaves the address braked
