"""`python -m bench.otel_cold [RUNS]`: what OpenTelemetry adds to the handler's cold path, the API installed and no
SDK (how Lambda runs gcevents without the ADOT layer).

Two measures, each the median over RUNS fresh interpreters (.pyc present), the modes interleaved so that a busy
machine weighs on both alike:
- the cold path of `bench.run` (handler import + first `build_runtime`, CPU ms) with GCEVENTS_TRACING=otel vs off;
- `python -X importtime`: the cumulative import time of `gcevents.adapters.otel` (the OpenTelemetry API in it)."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys

from bench.run import _COLD_SNIPPET, COLD_PATHS, ROOT

_ENV = {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}


def cold_path(mode: str) -> float:
    """CPU ms of the handler's imports and first setup with GCEVENTS_TRACING=mode."""
    code = _COLD_SNIPPET.format(imports=COLD_PATHS["c"][0], build=COLD_PATHS["c"][1])
    env = {**os.environ, **_ENV, "GCEVENTS_TRACING": mode}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, check=True)
    return float(done.stdout.split()[1])


def otel_import_us() -> int:
    """Cumulative microseconds of `import gcevents.adapters.otel` after the handler (its own imports excluded)."""
    code = "import gcevents.entrypoints.lambda_handler; import gcevents.adapters.otel"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True)
    line = next(x for x in done.stderr.splitlines() if re.search(r"\|\s*gcevents\.adapters\.otel$", x))
    return int(line.split("|")[1])


def main(runs: int = 15) -> dict[str, float]:
    cold_path("off"), cold_path("otel"), otel_import_us()  # writes any missing .pyc
    on, off, imports = [], [], []
    for _ in range(runs):
        on.append(cold_path("otel"))
        off.append(cold_path("off"))
        imports.append(otel_import_us())
    result = {
        "cold_path_otel_ms": round(statistics.median(on), 1),
        "cold_path_off_ms": round(statistics.median(off), 1),
        "otel_import_ms": round(statistics.median(imports) / 1000, 1),
    }
    result["cold_path_delta_ms"] = round(result["cold_path_otel_ms"] - result["cold_path_off_ms"], 1)
    return result


if __name__ == "__main__":
    print(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15))
