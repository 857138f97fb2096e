"""Run a benchmark as if this CPU had AVX2 but no AVX-512 (nor bf16): issue 16's CPU kind.

Each library of the analysis picks its kernels from the CPU at run time; all but one can be held
to AVX2 by a documented environment variable:
  numpy's own loops   NPY_DISABLE_CPU_FEATURES      OpenBLAS (numpy, scipy)   OPENBLAS_CORETYPE
  numba (umap)        NUMBA_CPU_NAME                torch, if imported        ATEN_CPU_CAPABILITY,
                                                                              ONEDNN_MAX_CPU_ISA
ONNX Runtime (CAM++, silero-vad, GE2E) has no such switch: its MLAS library reads CPUID once and
takes its AVX-512 kernels when the CPU has them. So this script keeps a copy of the installed
onnxruntime package (in the user's cache folder) in which the two branches that select those
kernels (AVX512F, and AVX512_BF16) are made to jump past them, and puts that copy first on
PYTHONPATH. The branches are found by their bytes in the installed build; if they are not there
(another onnxruntime version), the script says so and stops rather than measure something else.
Before running the command it times CAM++'s graph with the real and the copied package and
checks that the copy is the one imported. The timing need not differ (Zen 4 runs AVX-512 as two
256-bit halves: 1-4 % there); that the kernels change was checked once by reading MLAS's kernel
pointers from the loaded library (README, "As on a CPU with AVX2 and no AVX-512").

  python benchmarks/avx2_only.py -- benchmarks/speed.py --quick
  python benchmarks/avx2_only.py -- benchmarks/gui_scale.py

Nothing of this is used by the product; it is a measuring tool only.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# test $0x10000,%r10d ; je +0x0e  -- MLAS platform init: "if the CPU has AVX512F" (ORT 1.32 x86-64)
AVX512F_BRANCH = bytes.fromhex("41f7c200000100740e")
# and $0x20,%edx ; je +0x0e  -- the AVX512_BF16 kernel, within the next 0x80 bytes
BF16_BRANCH = bytes.fromhex("83e220740e")
JE, JMP = 0x74, 0xEB

ENV = {
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
    "OPENBLAS_CORETYPE": "Haswell",
    "NUMBA_CPU_NAME": "haswell",
    "ATEN_CPU_CAPABILITY": "avx2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
}


def patched_copy() -> Path:
    """A copy of the installed onnxruntime with MLAS's AVX-512 branches skipped; its parent
    folder goes on PYTHONPATH."""
    import onnxruntime

    source = Path(onnxruntime.__file__).parent
    out = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "speakerid-gui" / (
        f"onnxruntime-{onnxruntime.__version__}-avx2")
    if out.exists():  # written whole or not at all (below)
        return out
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(source, partial / "onnxruntime", ignore=shutil.ignore_patterns("__pycache__"))
    library = next((partial / "onnxruntime" / "capi").glob("onnxruntime_pybind11_state*.so"))
    code = bytearray(library.read_bytes())
    at = code.find(AVX512F_BRANCH)
    if at < 0 or code.find(AVX512F_BRANCH, at + 1) >= 0:
        shutil.rmtree(partial)
        sys.exit(f"onnxruntime {onnxruntime.__version__}: MLAS's AVX512F branch not found once in "
                 f"{library.name}; this script knows the bytes of 1.32 only")
    code[at + len(AVX512F_BRANCH) - 2] = JMP
    bf16 = code.find(BF16_BRANCH, at, at + 0x80)
    if bf16 >= 0:
        code[bf16 + len(BF16_BRANCH) - 2] = JMP
    library.write_bytes(bytes(code))
    partial.rename(out)
    return out


def campp_ms(pythonpath: str, copy: Path | None = None) -> float:
    """Median ms of CAM++'s graph on a batch of 3 s windows, in a fresh process (that imports
    onnxruntime from `copy`, when given)."""
    code = (
        "import time, numpy as np\n"
        "from speakerid_gui.core.embed.campp import CamppBackend\n"
        "frames = CamppBackend(threads=1, precision='float32').frames_onnx\n"
        "x = np.random.default_rng(0).standard_normal((8, 298, 80)).astype(np.float32)\n"
        "t = []\n"
        "for _ in range(12):\n"
        "    a = time.perf_counter(); frames(x); t.append(time.perf_counter() - a)\n"
        "import onnxruntime; print(onnxruntime.__file__)\n"
        "print(1000 * sorted(t)[6])\n")
    env = {**os.environ, **ENV, "PYTHONPATH": pythonpath}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if out.returncode:
        sys.exit(out.stderr)
    where, ms = out.stdout.split()[-2:]
    if copy is not None and not where.startswith(str(copy)):
        sys.exit(f"the copy was not imported: {where}")
    return float(ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- script.py [its options]")
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    copy = patched_copy()
    pythonpath = f"{copy}{os.pathsep}{ROOT}"
    real, held = campp_ms(str(ROOT)), campp_ms(pythonpath, copy)
    print(f"CAM++ graph, 8 windows of 3 s, one thread: {real:.1f} ms with the installed onnxruntime, "
          f"{held:.1f} ms with its AVX-512 kernels skipped ({copy})", flush=True)
    if not command:
        return
    env = {**os.environ, **ENV, "PYTHONPATH": f"{pythonpath}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    sys.exit(subprocess.call([sys.executable, *command], env=env))


if __name__ == "__main__":
    main()
