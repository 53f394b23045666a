#!/usr/bin/env python3
"""Mutation testing of the safety-critical modules (``make mutation``), with mutmut 3.

Each module runs in a fresh copy of the work tree (``var/mutation/<module>/``) against the test
files that exercise it, on SQLite only: the PostgreSQL cases of the same tests run in
``make test``. The copy runs with ``TZ=UTC``, so that a mutant which swaps the facility's time
zone for the machine's is told apart. A surviving mutant fails the run unless
``tests/mutation/equivalent.toml`` lists it (module, function, the changed line before and
after) with the reason it cannot change behaviour.

    scripts/mutation.py                 # every module
    scripts/mutation.py policy flags    # some of them
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "var" / "mutation"
EQUIVALENT = ROOT / "tests" / "mutation" / "equivalent.toml"
MUTMUT = Path(sys.executable).parent / "mutmut"
PACKAGES = ("telemed", "ehr", "labs", "webrtc", "reports", "custody", "care", "rounds")
# mutmut's statuses that mean a test failed on the mutant (a timeout is an endless loop).
CAUGHT = {"killed", "timeout", "segfault", "caught by type check"}


@dataclass(frozen=True)
class Module:
    path: str
    tests: tuple[str, ...]


MODULES = {
    "policy": Module("telemed/policy.py", ("tests/test_policy.py", "tests/test_policy_boundaries.py")),
    "flags": Module("labs/flags.py", ("tests/test_labs_flags.py", "tests/test_flag_boundaries.py",
                                     "tests/test_labs_values.py", "tests/test_censored_flag_boundaries.py")),
    "deadlines": Module("webrtc/deadlines.py",
                        ("tests/test_consults_deadlines.py", "tests/test_deadline_boundaries.py")),
    "care_clocks": Module("care/clocks.py", ("tests/test_care_clocks.py",)),
    "units": Module("labs/units.py", ("tests/test_labs_flags.py", "tests/test_unit_conversion.py")),
    "catalog": Module("labs/catalog.py", ("tests/test_labs_flags.py", "tests/test_catalog_ranges.py")),
    "transfer": Module("ehr/transfer.py", ("tests/test_transfer_rules.py",)),
    # tests/test_audit.py drives the server and 10,000-entry trails, too slow to run per mutant;
    # the seal tests exercise every function it does.
    "audit": Module("telemed/audit.py", ("tests/test_audit_seal.py",)),
    "checkdigit": Module("rounds/checkdigit.py", ("tests/test_rounds_identity.py",)),
    # tests/test_rounds_medpass.py drives the whole app per test and its missed-dose figures follow
    # the wall clock; the rules file runs the same rules on the database at fixed instants.
    "medpass": Module("rounds/medpass.py", ("tests/test_rounds_dose_rules.py", "tests/test_rounds_pill_line_rules.py")),
    "missed_doses": Module("rounds/adherence.py",
                           ("tests/test_rounds_dose_rules.py", "tests/test_rounds_pill_line_rules.py")),
    "rounds_flags": Module("rounds/flags.py", ("tests/test_rounds_flags.py",)),
    "scopes": Module("telemed/scopes.py", ("tests/test_smart_scopes.py", "tests/test_smart_backend.py")),
    "groups": Module("ehr/groups.py", ("tests/test_fhir_group_rules.py", "tests/test_fhir_group_export.py")),
    # The Gate decided directly, on a shared database: the API tests (tests/test_ehr_access.py,
    # the Group export, the SMART client) start a migrated server per test, minutes per mutant.
    "ehr_access": Module("ehr/access.py", ("tests/test_ehr_gate.py",)),
    "custody_tasks": Module("custody/tasks.py", ("tests/test_custody_tasks.py", "tests/test_custody_task_rules.py")),
    "consult_seeing": Module("webrtc/seeing.py", ("tests/test_consults_workflow.py",)),
    "intake_flags": Module("care/consequences.py", ("tests/test_care_consequences.py",)),
}


@dataclass(frozen=True)
class Mutant:
    name: str
    function: str
    before: str
    after: str


@dataclass
class Score:
    module: str
    tried: int = 0
    caught: int = 0
    timeouts: int = 0  # caught by running past the time limit (an endless loop)
    equivalent: list[Mutant] = field(default_factory=list)
    survivors: list[Mutant] = field(default_factory=list)
    stale: list[dict] = field(default_factory=list)  # listed as equivalent, but no such survivor
    seconds: float = 0.0

    @property
    def percent(self) -> float:
        judged = self.tried - len(self.equivalent)
        return 100.0 * self.caught / judged if judged else 100.0


def copy_tree(target: Path) -> None:
    """The work tree as git sees it (tracked and new files, not the ignored ones)."""
    shutil.rmtree(target, ignore_errors=True)
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def write_config(target: Path, module: Module) -> None:
    lines = ["[mutmut]", "source_paths =", *(f"    {p}" for p in PACKAGES), f"only_mutate = {module.path}",
             "pytest_add_cli_args_test_selection =", *(f"    {t}" for t in module.tests),
             # mutmut's time limit counts test calls, not fixture setup: a margin against false timeouts.
             "timeout_constant = 10",
             "pytest_add_cli_args =", "    -p", "    no:cacheprovider", "    -k", "    not postgresql", ""]
    (target / "setup.cfg").write_text("\n".join(lines), encoding="utf-8")


def mutmut(target: Path, *args: str, log: Path | None = None) -> str:
    env = {**os.environ, "TZ": "UTC"}
    if log is None:
        return subprocess.run([str(MUTMUT), *args], cwd=target, env=env, check=True, capture_output=True,
                              text=True).stdout
    with log.open("w", encoding="utf-8") as out:
        code = subprocess.run([str(MUTMUT), *args], cwd=target, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        sys.exit(f"mutmut failed in {target} (exit {code}); see {log}")
    return ""


def statuses(target: Path) -> dict[str, str]:
    found = {}
    for line in mutmut(target, "results", "--all", "true").splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep:
            found[name] = status
    return found


def function_of(name: str) -> str:
    """``telemed.policy.x_decide__mutmut_3`` -> ``decide``; methods are ``xǁClassǁmethod``."""
    local = name.rsplit(".", 1)[-1]
    local = re.sub(r"__mutmut_\d+$", "", local)
    return local.removeprefix("x_").removeprefix("xǁ").replace("ǁ", ".")


def describe(target: Path, name: str) -> Mutant:
    diff = mutmut(target, "show", name).splitlines()
    before = [line[1:].strip() for line in diff if line.startswith("-") and not line.startswith("---")]
    after = [line[1:].strip() for line in diff if line.startswith("+") and not line.startswith("+++")]
    return Mutant(name, function_of(name), "\n".join(before), "\n".join(after))


def load_equivalent() -> dict[str, list[dict]]:
    entries = tomllib.loads(EQUIVALENT.read_text(encoding="utf-8")).get("equivalent", [])
    by_module: dict[str, list[dict]] = {}
    for entry in entries:
        if not entry.get("reason", "").strip():
            sys.exit(f"{EQUIVALENT}: an entry without a reason: {entry}")
        by_module.setdefault(entry["module"], []).append(entry)
    return by_module


def is_listed(mutant: Mutant, entries: list[dict]) -> bool:
    return any(e["function"] == mutant.function and e["before"] == mutant.before and e["after"] == mutant.after
               for e in entries)


def run_module(name: str, module: Module, equivalent: list[dict]) -> Score:
    target = WORK / name
    copy_tree(target)
    write_config(target, module)
    print(f"== {name}: {module.path} against {', '.join(module.tests)}", flush=True)
    started = time.monotonic()
    mutmut(target, "run", "--max-children", str(os.cpu_count() or 2), log=target / "mutmut.log")
    prefix = module.path.removesuffix(".py").replace("/", ".") + "."
    score = Score(name, seconds=time.monotonic() - started)
    for mutant, status in sorted(statuses(target).items()):
        if not mutant.startswith(prefix):
            continue
        score.tried += 1
        if status in CAUGHT:
            score.caught += 1
            score.timeouts += status == "timeout"
            continue
        described = describe(target, mutant)
        (score.equivalent if status == "survived" and is_listed(described, equivalent) else score.survivors).append(
            described)
        if status != "survived":  # "no tests", "suspicious", "skipped": not a verdict, so not a pass
            print(f"   {mutant}: {status}")
    score.stale = [e for e in equivalent if not any(is_listed(m, [e]) for m in score.equivalent)]
    return score


def report(scores: list[Score]) -> bool:
    print(f"\n{'module':<10} {'tried':>6} {'caught':>7} {'(timeout)':>10} {'equiv.':>7} {'survived':>9} {'score':>7}"
          f" {'minutes':>8}")
    for s in scores:
        print(f"{s.module:<10} {s.tried:>6} {s.caught:>7} {s.timeouts:>10} {len(s.equivalent):>7} "
              f"{len(s.survivors):>9} {s.percent:>6.1f}% {s.seconds / 60:>8.1f}")
    survivors = [m for s in scores for m in s.survivors]
    for m in survivors:
        print(f"\nnot caught and not listed as equivalent: {m.name} (function {m.function})\n"
              f"  - {m.before}\n  + {m.after}")
    stale = [(s.module, e) for s in scores for e in s.stale]
    for module, e in stale:
        print(f"\nlisted as equivalent in {EQUIVALENT.name}, but no longer a survivor of {module} "
              f"(function {e['function']}): remove it\n  - {e['before']}\n  + {e['after']}")
    return not survivors and not stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", metavar="module", help=f"any of {', '.join(MODULES)} (default: all)")
    chosen = parser.parse_args().modules or list(MODULES)
    unknown = set(chosen) - set(MODULES)
    if unknown:
        parser.error(f"unknown module(s): {', '.join(sorted(unknown))}")
    equivalent = load_equivalent()
    scores = [run_module(name, MODULES[name], equivalent.get(name, [])) for name in chosen]
    sys.exit(0 if report(scores) else 1)


if __name__ == "__main__":
    main()
