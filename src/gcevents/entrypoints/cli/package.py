"""`gcevents package`: build the Lambda artifact (or a layer) with your handler code."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gcevents.ops.package import Artifact


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "package",
        help="build the Lambda artifact (gcevents + dependencies + your handlers), or a Lambda layer",
        description=(
            "Writes OUT/lambda/ and OUT/gcevents-lambda.zip: gcevents, its dependencies as CPython 3.12 wheels "
            "for --arch (boto3 left out: the runtime has it), and each --handlers path, byte-compiled for Python "
            "3.12. Every handler is imported from the artifact before it is zipped (read instead, when this "
            "machine cannot load the target: the output says which check ran). "
            "With --layer: OUT/layer/python/ and OUT/gcevents-layer.zip, for a function you deploy yourself."
        ),
    )
    _what_goes_in(parser)
    _how_it_is_built(parser)
    parser.set_defaults(func=cmd_package)


def _what_goes_in(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--handlers",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="a handler package directory or module file to put in the artifact (repeatable), e.g. ./myorg",
    )
    parser.add_argument(
        "--spec",
        action="append",
        default=[],
        metavar="MODULE:ATTR",
        help="a GCEVENTS_HANDLERS entry to check (repeatable), e.g. myorg.handlers:router; "
        "without it each --handlers module is only imported",
    )
    parser.add_argument(
        "--requirement",
        "-r",
        action="append",
        default=[],
        metavar="REQ",
        help="a dependency of your handlers, as pip takes it (repeatable); a requirements .txt file works too",
    )


def _how_it_is_built(parser: argparse.ArgumentParser) -> None:
    from gcevents.ops.package import ARCHITECTURES, DEFAULT_ARCH

    parser.add_argument("--out", type=Path, default=Path("build"), help="output directory (default: build)")
    parser.add_argument(
        "--arch",
        choices=sorted(ARCHITECTURES),
        default=DEFAULT_ARCH,
        help="the function's architecture, as the template's Architecture parameter (default: %(default)s)",
    )
    parser.add_argument("--layer", action="store_true", help="build a Lambda layer (python/ layout) instead")
    parser.add_argument("--python-version", default="3.12", help="the Lambda runtime's Python (default: 3.12)")
    parser.add_argument(
        "--python",
        metavar="PATH",
        help="the CPython of that version that byte-compiles and checks (default: found on this machine)",
    )
    parser.add_argument("--no-compile", action="store_true", help="ship source only (no .pyc files)")
    parser.add_argument("--no-zip", action="store_true", help="only build the directory")
    parser.add_argument(
        "--code-dir",
        type=Path,
        metavar="DIR",
        help="write the code root to DIR itself, unzipped, instead of OUT/lambda (what `sam build` runs: "
        '--code-dir "$(ARTIFACTS_DIR)"); DIR must be empty or hold a previous artifact',
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help="also measure the handler's cold import from the artifact with and without its .pyc files",
    )
    parser.add_argument("--json", action="store_true", help="print what was built as JSON")


def cmd_package(args: argparse.Namespace) -> int:
    from gcevents.ops.package import PackageOptions, build, host_loads, measure_cold_import, size_text

    started = time.perf_counter()
    options = PackageOptions(
        out=args.out,
        arch=args.arch,
        handlers=tuple(args.handlers),
        specs=tuple(args.spec),
        requirements=tuple(args.requirement),
        layer=args.layer,
        python_version=args.python_version,
        python=args.python,
        compile=not args.no_compile,
        make_zip=not args.no_zip,
        code_dir=args.code_dir,
    )
    artifact = build(options)  # a PackagingError is a GcEventsError: the CLI prints it and exits 1
    for warning in artifact.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        print(json.dumps(_document(artifact, args, started)))
        return 0
    compiled = f", {artifact.pyc_files} .pyc by {artifact.python}" if artifact.pyc_files else ", source only (no .pyc)"
    print(f"{artifact.root}/: {artifact.files} files{compiled}, {size_text(artifact.unzipped_bytes)} unzipped")
    if artifact.zip_path is not None and artifact.zipped_bytes is not None:
        print(f"{artifact.zip_path}: {size_text(artifact.zipped_bytes)} zipped")
    checked = ", ".join(("gcevents", *artifact.modules_checked))
    print(f"{artifact.check} ({checked}): {artifact.check_detail}")
    # Pure Python loads anywhere: only native files for another machine keep the cold import from being measured.
    loads = host_loads(args.arch, artifact.python) or (artifact.python is not None and not artifact.native_files)
    if args.measure and not loads:
        print(f"cold import not measured: this machine cannot load {args.arch} Linux code with CPython 3.12")
    elif args.measure:
        python = artifact.python or sys.executable
        modules = [m.split(":")[0] for m in artifact.modules_checked]
        with_pyc = measure_cold_import(python, artifact.site, modules, with_pyc=True)
        without = measure_cold_import(python, artifact.site, modules, with_pyc=False)
        timings = f"{with_pyc * 1000:.0f} ms with .pyc, {without * 1000:.0f} ms without"
        print(f"cold import (median of 9, CPU time): {timings}")
    print(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def _document(artifact: Artifact, args: argparse.Namespace, started: float) -> dict[str, Any]:
    """--json: the same facts as the text, sizes in bytes."""
    document: dict[str, Any] = {
        "root": str(artifact.root),
        "files": artifact.files,
        "pycFiles": artifact.pyc_files,
        "python": artifact.python,
        "unzippedBytes": artifact.unzipped_bytes,
        "zip": None if artifact.zip_path is None else str(artifact.zip_path),
        "zippedBytes": artifact.zipped_bytes,
        "importsChecked": list(artifact.modules_checked),
        "warnings": list(artifact.warnings),
    }
    if args.measure:
        document["coldImportSeconds"] = {
            "withPyc": _cold_import(artifact, True),
            "withoutPyc": _cold_import(artifact, False),
        }
    document["seconds"] = round(time.perf_counter() - started, 3)
    return document


def _cold_import(artifact: Artifact, with_pyc: bool) -> float:
    """Seconds of CPU time (median of 9) to import the checked modules from the artifact."""
    from gcevents.ops.package import measure_cold_import

    modules = [m.split(":")[0] for m in artifact.modules_checked]
    return measure_cold_import(artifact.python or sys.executable, artifact.site, modules, with_pyc=with_pyc)
