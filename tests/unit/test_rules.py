"""Rules a machine checks: lint (ruff), types (mypy), import direction (import-linter), and models/
importing nothing of Modelshelf. Each is configured in pyproject.toml; run by hand with the same
commands as below (`.venv/bin/ruff check catalog generator`, `.venv/bin/lint-imports`, and mypy
through the shim that `_mypy_path` describes)."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PACKAGES = {"modelshelf.catalog": REPO / "catalog", "modelshelf.generator": REPO / "generator"}


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in {BIN}; run scripts/setup --test (it installs the `test` extra)")
    return str(path)


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    result = _run([_tool("ruff"), "check", "--no-cache", "catalog", "generator"])
    assert result.returncode == 0, result.stdout + result.stderr


def _mypy_path(tmp: Path) -> Path:
    """mypy cannot follow setuptools' package-dir mapping (editable finder): give it a folder where
    modelshelf/catalog and modelshelf/generator are links to catalog/ and generator/."""
    shim = tmp / "mypy-path"
    (shim / "modelshelf").mkdir(parents=True)
    for name, folder in PACKAGES.items():
        (shim / "modelshelf" / name.rsplit(".", 1)[1]).symlink_to(folder, target_is_directory=True)
    return shim


def test_mypy(tmp_path: Path) -> None:
    env = {**os.environ, "MYPYPATH": str(_mypy_path(tmp_path))}
    args = [_tool("mypy"), "--cache-dir", str(tmp_path / "mypy-cache"), "--python-executable", sys.executable]
    for name in PACKAGES:
        args += ["-p", name]
    result = _run(args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts() -> None:
    """runtime <- cards <- client <- build; catalog/ never imports the build; the client and the
    runtime import none of the build's packages (pyproject.toml [tool.importlinter])."""
    result = _run([_tool("lint-imports"), "--no-cache"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert " broken" in result.stdout and "0 broken" in result.stdout, result.stdout


FORBIDDEN_IN_MODELS = ("modelshelf", "catalog", "generator")


def _imported_roots(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in ("import_module", "__import__"):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def test_models_import_nothing_of_modelshelf() -> None:
    """Recipes and evaluation scripts under models/ run in their own process with the recipe tools only:
    they must not import the catalog, the runtime, the client or the build."""
    files = sorted((REPO / "models").rglob("*.py"))
    assert files, "models/ holds no Python files"
    bad = []
    for file in files:
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        bad += [f"{file.relative_to(REPO)}:{line}: imports {root}" for line, root in _imported_roots(tree)
                if root in FORBIDDEN_IN_MODELS]
    assert not bad, "\n".join(bad)


def test_models_check_catches_an_import() -> None:
    """The models/ check itself: every spelling of an import of Modelshelf is found."""
    source = "import modelshelf.catalog\nfrom generator.cli import main\nimport importlib\nimportlib.import_module('catalog.model')\n"
    assert [root for _, root in _imported_roots(ast.parse(source))] == ["modelshelf", "generator", "importlib", "catalog"]


def test_noqa_comments_name_a_rule() -> None:
    """A bare `# noqa` silences every rule; each must name the rule it silences (ruff's PGH004 checks
    the packages, this the tests and models too)."""
    result = _run([_tool("ruff"), "check", "--no-cache", "--select", "PGH004", "tests", "models"])
    assert result.returncode == 0, result.stdout + result.stderr
