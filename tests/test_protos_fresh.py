"""The committed generated code equals a fresh generation from protos/."""

from __future__ import annotations

import filecmp
from pathlib import Path

from registry.tools import genprotos


def _files(root: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(root)): p
        for p in (root / genprotos.PYTHON_PACKAGE).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    genprotos.generate(tmp_path)
    fresh, committed = _files(tmp_path), _files(genprotos.ROOT / "clients")
    assert sorted(fresh) == sorted(committed), "run `make protos` and commit the result"
    stale = [name for name, p in fresh.items() if not filecmp.cmp(p, committed[name], False)]
    assert not stale, f"stale generated files (run `make protos`): {stale}"
