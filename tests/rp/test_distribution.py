"""``idp.rp`` is installable on its own: the ``idp-rp`` distribution in ``idp-rp/``.

A resource server installs it into an environment that has nothing of the provider and
verifies a token; the distribution asks for nothing the provider's own install lacks, and
``idp.rp`` imports nothing the distribution does not declare.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTION = REPO / "idp-rp"
#: What installing idp-rp may bring: itself, its three dependencies and theirs.
ALLOWED = {"idp-rp", "pyjwt", "cryptography", "requests", "cffi", "pycparser", "certifi",
           "charset-normalizer", "idna", "urllib3"}  # fmt: skip
#: The distribution each third-party module idp.rp imports comes from.
DISTRIBUTIONS = {"jwt": "pyjwt", "cryptography": "cryptography", "requests": "requests"}

SCRIPT = """
import importlib.metadata, json, sys
for heavy in ("sqlalchemy", "flask_sqlalchemy", "alembic", "flask", "authlib"):
    try:
        __import__(heavy)
    except ImportError:
        pass
    else:
        raise SystemExit(heavy + " is installed")
import idp.rp
from idp.rp import TokenVerifier
issuer, token = sys.argv[1:]
verified = TokenVerifier(issuer, audience="client-1").verify_access_token(token)
print(json.dumps({
    "file": idp.rp.__file__,
    "prefix": sys.prefix,
    "claims": verified.claims,
    "dists": sorted(d.metadata["Name"].lower() for d in importlib.metadata.distributions()),
}))
"""


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _dependencies(pyproject: Path) -> dict[str, str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    found = {}
    for spec in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9._-]+", spec).group(0)
        found[_normalise(name)] = spec[len(name) :].strip()
    return found


def test_idp_rp_installed_alone_verifies_a_token_without_sqlalchemy(stub, tmp_path):
    source = tmp_path / "idp-rp"  # the link to idp/rp resolved, as in an sdist
    shutil.copytree(DISTRIBUTION, source, ignore=shutil.ignore_patterns(
        "__pycache__", "build", "*.egg-info"))  # fmt: skip
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=60)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    install = subprocess.run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", source],
        capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr

    token = stub.access_token(stub.keys[0], acr="urn:idp:acr:mfa", amr=["mfa", "otp", "pwd"])
    run = subprocess.run(
        [python, "-I", "-c", SCRIPT, stub.issuer, token],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)
    assert Path(result["file"]).is_relative_to(venv)
    assert result["claims"]["sub"] == "user-1" and result["claims"]["amr"] == ["mfa", "otp", "pwd"]
    assert set(result["dists"]) <= ALLOWED, set(result["dists"]) - ALLOWED
    assert "idp" not in result["dists"]


def test_the_distribution_ships_the_one_idp_rp_source_and_declares_all_it_imports():
    """Its ``src/idp/rp`` is the repository's ``idp/rp`` (``idp`` a namespace), and every module
    imports only the standard library, ``idp.rp`` and what the distribution declares -- Flask,
    the ``flask`` extra, in resource.py alone."""
    assert (DISTRIBUTION / "src" / "idp" / "rp").resolve() == REPO / "idp" / "rp"
    assert not (DISTRIBUTION / "src" / "idp" / "__init__.py").exists()
    declared = set(_dependencies(DISTRIBUTION / "pyproject.toml"))
    extras = tomllib.loads((DISTRIBUTION / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras == {"flask": ["flask>=3.0"]}
    for path in (REPO / "idp" / "rp").glob("*.py"):
        for top, names in _third_party_imports(path):
            if top == "idp":
                assert all(n == "idp.rp" or n.startswith("idp.rp.") for n in names), path
            elif top == "flask":
                assert path.name == "resource.py", path.name
            else:
                assert DISTRIBUTIONS.get(top) in declared, (path.name, top)


def test_the_distribution_needs_nothing_the_providers_install_lacks():
    """``pip install -e .`` at the root must give ``idp.rp`` all it needs, at the same bounds."""
    ours = _dependencies(DISTRIBUTION / "pyproject.toml")
    provider = _dependencies(REPO / "pyproject.toml")
    assert set(ours) == {"pyjwt", "cryptography", "requests"}
    assert {name: provider.get(name) for name in ours} == ours


def _third_party_imports(path: Path):
    """(top-level name, full names) of each import outside the standard library."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module]
        else:
            continue
        for top in {name.split(".")[0] for name in names} - set(sys.stdlib_module_names):
            yield top, names
