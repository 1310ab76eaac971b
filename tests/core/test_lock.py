"""The dependency lock (requirements/, made by scripts/lock): it satisfies what
pyproject.toml asks for, every pin has hashes, the runtime lock agrees with the
development one, and the environment these tests run in is exactly the lock, so a green
run is a run on the locked set (docs/operations.md, "Dependencies: the lock")."""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass
from importlib import metadata

import pytest
from conftest import REPO
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

LOCKS = REPO / "requirements"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
#: Installed with every virtual environment, never pinned by the lock.
BOOTSTRAP = {"pip"}


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: int

    def applies(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def pins(name: str) -> list[Pin]:
    """The pins of ``requirements/NAME.txt`` (a pin spans its continuation lines)."""
    text = (LOCKS / f"{name}.txt").read_text("utf-8")
    found = []
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2]):
        head = entry.split("\\", 1)[0].strip()
        requirement = Requirement(head)
        (spec,) = requirement.specifier
        assert spec.operator == "==", head
        found.append(
            Pin(
                canonicalize_name(requirement.name),
                Version(spec.version),
                requirement.marker,
                entry.count("--hash=sha256:"),
            )
        )
    return found


def wanted() -> list[Requirement]:
    """What pyproject.toml asks for: dependencies, every extra, the build backend."""
    project = PYPROJECT["project"]
    texts = [
        *project["dependencies"],
        *(r for extra in project["optional-dependencies"].values() for r in extra),
        *PYPROJECT["build-system"]["requires"],
    ]
    return [Requirement(t) for t in texts]


@pytest.mark.parametrize("lock", ["dev", "runtime"])
def test_every_pin_is_exact_and_has_hashes(lock: str) -> None:
    """pip installs the lock with --require-hashes: every pin needs its files' hashes."""
    found = pins(lock)
    assert found and all(p.hashes >= 1 for p in found), [p.name for p in found if not p.hashes]


def test_the_lock_satisfies_pyproject() -> None:
    """Every requirement of pyproject.toml is pinned, at a version it accepts: a
    dependency added without `scripts/lock` fails here."""
    by_name: dict[str, list[Pin]] = {}
    for pin in pins("dev"):
        by_name.setdefault(pin.name, []).append(pin)
    for requirement in wanted():
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        locked = by_name.get(canonicalize_name(requirement.name), [])
        assert locked, f"{requirement} is not in requirements/dev.txt: run scripts/lock"
        for pin in locked:
            assert pin.version in requirement.specifier, f"{requirement}: locked {pin.version}"


def test_the_runtime_lock_is_the_dev_lock_cut_down() -> None:
    """A server gets the versions the tests ran with, and only what it needs."""
    # (Markers may differ: tzdata is needed everywhere by the tests' tools, by the
    # runtime only on Windows.)
    dev = {(p.name, p.version) for p in pins("dev")}
    runtime = {(p.name, p.version) for p in pins("runtime")}
    assert runtime <= dev, runtime - dev
    names = {name for name, _ in runtime}
    for requirement in PYPROJECT["project"]["dependencies"]:
        assert canonicalize_name(Requirement(requirement).name) in names, requirement
    assert "pytest" not in names and "mypy" not in names


def test_these_tests_run_on_exactly_the_locked_set() -> None:
    """The environment holds every pin that applies here at its version, and nothing the
    lock does not name (the project itself and pip apart)."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("not in a virtual environment: the lock is installed into .venv")
    installed = {
        canonicalize_name(d.metadata["Name"]): Version(d.version) for d in metadata.distributions()
    }
    locked = {p.name: p.version for p in pins("dev") if p.applies()}
    extra = set(installed) - set(locked) - BOOTSTRAP - {"chatserver"}
    assert not extra, f"installed but not locked: {sorted(extra)}"
    differ = {n: (v, installed.get(n)) for n, v in locked.items() if installed.get(n) != v}
    assert not differ, f"locked version, installed version: {differ}"


def test_the_dockerfile_installs_as_the_docs_say() -> None:
    """deploy/Dockerfile (no container engine runs here, so it is checked as text) runs
    the pip commands of docs/operations.md's install, from the same lock."""
    docker = (REPO / "deploy" / "Dockerfile").read_text("utf-8")
    ran = [
        " ".join(w for w in line.split("&&")[0].split() if w != "--no-cache-dir")
        for line in re.findall(r"^RUN (pip install .*)$", docker, re.M)
    ]
    docs = (REPO / "docs" / "operations.md").read_text("utf-8").split("### By hand", 1)[1]
    documented = re.findall(r"^(pip install .*)$", docs.split("```")[1], re.M)
    assert ran == documented
    copied = {w for line in re.findall(r"^COPY (.*)$", docker, re.M) for w in line.split()}
    # What setup.py and pyproject.toml build from is all in the image.
    assert {"setup.py", "pyproject.toml", "./chatserver", "./retention", "./widget"} <= copied
