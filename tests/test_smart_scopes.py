"""SMART system scopes as parsed and weighed (telemed/scopes.py): v1 suffixes mapped to v2
letters, each letter granted only where asked, wildcards, and every malformed scope refused whole."""

from __future__ import annotations

import pytest

from telemed.scopes import LETTERS, V1, ScopeError, Scopes, parse_scopes


def test_v1_and_v2_suffixes_grant_exactly_their_letters():
    assert V1 == {"read": "rs", "write": "cud", "*": "cruds"} and LETTERS == "cruds"
    for scope, letters in (("system/Observation.read", "rs"), ("system/Observation.write", "cud"),
                           ("system/Observation.*", "cruds"), ("system/Observation.rs", "rs"),
                           ("system/Observation.r", "r"), ("system/Observation.cruds", "cruds"),
                           ("system/Observation.cd", "cd")):
        scopes, words = parse_scopes(scope)
        assert words == (scope,)
        assert scopes.granted == frozenset(("Observation", letter) for letter in letters), scope


def test_a_type_scope_grants_that_type_only_and_a_wildcard_every_type():
    scopes, _ = parse_scopes("system/Observation.read")
    assert scopes.permits("Observation", "r") and scopes.permits("Observation", "s")
    assert not scopes.permits("Observation", "c") and not scopes.permits("Patient", "r")
    assert scopes.types_with("r") == frozenset({"Observation"}) and scopes.types_with("c") == frozenset()
    everything, _ = parse_scopes("system/*.rs")
    assert everything.permits("Patient", "r") and everything.permits("Flag", "s")
    assert not everything.permits("Patient", "u")
    assert everything.types_with("r") is None and everything.types_with("u") == frozenset()


def test_types_with_lists_only_the_types_granted_that_letter():
    scopes, _ = parse_scopes("system/Observation.r system/Patient.s system/Flag.rs")
    assert scopes.types_with("r") == frozenset({"Observation", "Flag"})
    assert scopes.types_with("s") == frozenset({"Patient", "Flag"})


def test_covers_means_every_asked_grant_is_held():
    held, _ = parse_scopes("system/Observation.rs system/Patient.r")
    assert held.covers(parse_scopes("system/Observation.r system/Patient.r")[0])
    assert not held.covers(parse_scopes("system/Patient.rs")[0])
    assert not held.covers(parse_scopes("system/Condition.r")[0])
    assert parse_scopes("system/*.read")[0].covers(held)
    assert not held.covers(parse_scopes("system/*.r")[0])
    assert held.covers(Scopes(frozenset()))


def test_the_list_keeps_its_order_once_each():
    scopes, words = parse_scopes("  system/Patient.r   system/Observation.rs system/Patient.r ")
    assert words == ("system/Patient.r", "system/Observation.rs")
    assert scopes.granted == {("Patient", "r"), ("Observation", "r"), ("Observation", "s")}


@pytest.mark.parametrize("text", [
    "", "   ", "system/Observation.", "system/Observation", "patient/Observation.read", "user/*.read",
    "system/observation.read", "system/Observation.sr", "system/Observation.rr", "system/Observation.x",
    "system/O.read", "system/" + "A" * 65 + ".read", "xsystem/Observation.read", "system/Observation.readx",
    "system/Observation.read system/Patient.bad", "system/**.read",
])
def test_a_scope_not_understood_is_refused_whole(text):
    with pytest.raises(ScopeError) as refused:
        parse_scopes(text)
    if text.strip():
        bad = next(w for w in text.split() if w != "system/Observation.read")
        assert str(refused.value) == (f"scope {bad!r} is not a system scope this server grants "
                                      "(system/Type.read, system/Type.rs, system/*.read, ...)")
    else:
        assert str(refused.value) == "no scope was asked for"


def test_the_longest_type_name_is_accepted():
    name = "A" + "b" * 63
    assert parse_scopes(f"system/{name}.r")[0].granted == {(name, "r")}
    assert parse_scopes("system/Ab.r")[0].granted == {("Ab", "r")}
