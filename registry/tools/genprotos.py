"""Generate Python code and mypy stubs from protos/ into a target directory.

Run as ``python -m registry.tools.genprotos OUT_DIR`` (``make protos`` does).
Output is never edited by hand; tests/test_protos_fresh.py regenerates it into
a temporary directory and fails if the committed copy differs.

The protobuf package stays ``dpa.registry.v1`` (the wire names), but the Python
package is ``dpa_registry_api.v1``: ``dpa`` is too generic a top-level name to
install into someone else's environment (docs/adr/0015). protoc derives Python
module paths from proto file paths, so the generated tree is moved and its
imports and module names rewritten, the way protoletariat does.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTO_ROOT = ROOT / "protos"
PACKAGE = Path("dpa/registry/v1")
PYTHON_PACKAGE = "dpa_registry_api"
_PROTO_MODULE = re.compile(r"\bdpa\.registry\.v1(?=\.\w+_pb2\b| import )")


def generate(out_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        _protoc(Path(tmp))
        target = out_dir / PYTHON_PACKAGE / "v1"
        shutil.rmtree(out_dir / PYTHON_PACKAGE, ignore_errors=True)
        target.mkdir(parents=True)
        for source in sorted((Path(tmp) / PACKAGE).iterdir()):
            text = _PROTO_MODULE.sub(f"{PYTHON_PACKAGE}.v1", source.read_text())
            (target / source.name).write_text(text)
    (out_dir / PYTHON_PACKAGE / "__init__.py").touch()
    (target / "__init__.py").touch()
    (out_dir / PYTHON_PACKAGE / "py.typed").touch()


def _protoc(out_dir: Path) -> None:
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


def main() -> None:
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "clients")


if __name__ == "__main__":
    main()
