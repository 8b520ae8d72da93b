"""Generate Python code and mypy stubs from protos/ into a target directory.

Run as ``python -m registry.tools.genprotos OUT_DIR`` (``make protos`` does).
Output is never edited by hand; tests/test_protos_fresh.py regenerates it into
a temporary directory and fails if the committed copy differs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "protos"
PACKAGE = Path("dpa/registry/v1")


def generate(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    bindir = Path(sys.executable).parent
    include = Path(grpc_tools.__file__).parent / "_proto"
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE).glob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for pkg in (Path("dpa"), Path("dpa/registry"), PACKAGE):
        (out_dir / pkg / "__init__.py").touch()
    (out_dir / "dpa" / "py.typed").touch()


def main() -> None:
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "clients")


if __name__ == "__main__":
    main()
