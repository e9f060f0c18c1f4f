"""``idp.rp`` stands alone: an app can use it without the provider's code or database layer."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

RP = Path(__file__).resolve().parents[2] / "idp" / "rp"


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_modules_import_nothing_of_idp_but_idp_rp_and_flask_only_in_resource():
    for path in RP.glob("*.py"):
        imports = _imports(path)
        ours = {m for m in imports if m == "idp" or m.startswith("idp.")}
        assert all(m.startswith("idp.rp") for m in ours), (path.name, ours)
        if path.name != "resource.py":
            assert not {m for m in imports if m.split(".")[0] == "flask"}, path.name


def test_importing_idp_rp_loads_none_of_the_server(tmp_path):
    """In a fresh interpreter: ``import idp.rp`` loads no Flask, database or policy code, and
    Flask only when the resource-server decorator is first used."""
    script = (
        "import sys, idp.rp\n"
        "heavy = {'flask', 'flask_sqlalchemy', 'sqlalchemy', 'idp.app', 'idp.models',\n"
        "         'idp.policy'}\n"
        "assert not heavy & set(sys.modules), heavy & set(sys.modules)\n"
        "idp.rp.Requirement(acr_values=['1']).satisfied_by(\n"
        "    idp.rp.Authentication('phr', (), None))\n"
        "idp.rp.require_auth\n"
        "assert 'flask' in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=RP.parents[1],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
