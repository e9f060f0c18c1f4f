"""The layer rules of docs/architecture.md are a real check: `lint-imports` passes on the tree and
fails when a module breaks a rule.

The breach tests copy ``idp/`` and ``pyproject.toml`` into a temporary folder, add one offending
import, and run `lint-imports` there with the same ``[tool.importlinter]`` contracts (it puts its
working directory first on ``sys.path``, so the copy is the package analysed). Each asserts that
the contract it targets is reported broken and that the offending import is named.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200"},  # a wide report: no line the tests look for wraps
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_tree_keeps_every_layer_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "idp", tmp_path / "idp", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


# (contract id, file added or appended to in the copy, its source, what the report must name)
BREACHES = [
    pytest.param(
        "policy", "idp/policy/breach.py", "import flask\n", "idp.policy.breach -> flask",
        id="policy_imports_flask",
    ),
    pytest.param(
        "policy", "idp/policy/breach.py", "import sqlalchemy\n", "idp.policy.breach -> sqlalchemy",
        id="policy_imports_sqlalchemy",
    ),
    pytest.param(
        "policy", "idp/policy/breach.py", "from idp import clock\n",
        "idp.policy.breach -> idp.clock", id="policy_imports_the_provider",
    ),
    pytest.param(
        "models", "idp/models/breach.py", "from idp import audit\n",
        "idp.models.breach -> idp.audit", id="models_import_audit",
    ),
    pytest.param(
        "layers", "idp/notify/breach.py", "from idp.accounts import users\n",
        "idp.notify.breach -> idp.accounts.users", id="lower_layer_imports_higher",
    ),
    pytest.param(
        "layers", "idp/web/breach.py", "from idp.oauth2 import server\n",
        "idp.web.breach -> idp.oauth2.server", id="web_and_oauth2_are_independent",
    ),
    pytest.param(
        "layers", "idp/admin/__init__.py", "", "idp.admin", id="new_package_not_in_a_layer",
    ),
    pytest.param(
        "entry", "idp/views/breach.py", "from idp.app import create_app\n",
        "idp.views.breach -> idp.app", id="views_import_the_app_factory",
    ),
    pytest.param(
        "base", "idp/clock.py", "\nfrom idp import audit\n", "idp.clock -> idp.audit",
        id="base_module_imports_a_layer",
    ),
    pytest.param(
        "factors", "idp/factors/breach.py", "from idp.web import pages\n",
        "idp.factors.breach -> idp.web.pages", id="factors_import_the_web_layer",
    ),
    pytest.param(
        "factors", "idp/factors/breach.py", "import werkzeug\n",
        "idp.factors.breach -> werkzeug", id="factors_import_werkzeug",
    ),
    pytest.param(
        "rp", "idp/rp/breach.py", "from idp.models import User\n",
        "idp.rp.breach -> idp.models", id="rp_imports_the_provider",
    ),
    pytest.param(
        "rp", "idp/rp/breach.py", "import flask_sqlalchemy\n",
        "idp.rp.breach -> flask_sqlalchemy", id="rp_imports_the_database",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("contract", "path", "source", "reported"), BREACHES)
def test_a_breach_breaks_its_contract(tree_copy, contract, path, source, reported):
    target = tree_copy / path
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("a") as file:
        file.write(source)

    result = lint_imports(tree_copy, "--contract", contract)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Contracts: 0 kept, 1 broken." in result.stdout, result.stdout + result.stderr
    assert reported in result.stdout, result.stdout
