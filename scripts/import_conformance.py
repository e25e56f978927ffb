"""Copy the official-scorer conformance data into the benchmark folders (``tasks/<b>/conformance/``).

The source is the conformance set described in its README (official repositories at pinned commits, plus the
outputs of the official functions/scorers on them). Files are copied byte for byte; ``cases.json`` and
``expected.json`` are split by benchmark (each key kept with its value unchanged). Every copied file's sha256
is written to ``tasks/<b>/conformance/MANIFEST.json`` so a later copy can be checked against the source.

Usage: ``python scripts/import_conformance.py [SOURCE_DIR]`` (default: the ``conformance`` folder of the
project's shared data, one level above the checkout; the README there names its sources).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
#: benchmark folder -> (files/folders copied as they are, cases.json keys, expected.json keys)
LAYOUT = {
    "textvqa": ((), ("textvqa_normalize", "textvqa_score"), ()),
    "mme": (("mme/questions", "mme/lavin_predictions"), ("mme_parse",), ("mme_lavin",)),
    "mmmu": (("mmmu/answer_dict_val.json", "mmmu/llava1.5_13b_outputs"),
             ("mmmu_parse_multi_choice", "mmmu_parse_open", "mmmu_eval_open"), ("mmmu_llava1.5_13b",)),
    "mathvista": (("mathvista/testmini.json", "mathvista/output_bard.json", "mathvista/scores_bard.json"),
                  ("mathvista_normalize",), ("mathvista_bard",)),
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(source: Path) -> None:
    cases = json.loads((source / "cases.json").read_text(encoding="utf-8"))
    expected = json.loads((source / "expected.json").read_text(encoding="utf-8"))
    for benchmark, (copies, case_keys, expected_keys) in LAYOUT.items():
        target = REPO / "tasks" / benchmark / "conformance"
        target.mkdir(parents=True, exist_ok=True)
        manifest: dict[str, str] = {}
        for relative in copies:
            origin = source / relative
            files = sorted(p for p in origin.rglob("*") if p.is_file()) if origin.is_dir() else [origin]
            for file in files:
                inside = file.relative_to(source / benchmark)
                (target / inside).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, target / inside)
                manifest[str(inside)] = _sha256(file)
        if case_keys:
            (target / "cases.json").write_text(json.dumps({k: cases[k] for k in case_keys}, indent=1,
                                                          ensure_ascii=False) + "\n", encoding="utf-8")
        if expected_keys:
            (target / "expected.json").write_text(json.dumps({k: expected[k] for k in expected_keys}, indent=1,
                                                             ensure_ascii=False) + "\n", encoding="utf-8")
        (target / "MANIFEST.json").write_text(json.dumps(
            {"source": "conformance set (see README.md here)", "sha256": manifest}, indent=1) + "\n", encoding="utf-8")
        print(f"tasks/{benchmark}/conformance: {len(manifest)} files + cases/expected keys "
              f"{list(case_keys) + list(expected_keys)}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "conformance")
