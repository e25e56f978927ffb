"""Write tests/data/processing_template_goldens.json by running the official MGM ``conversation.py``.

The official file is only executed here, as an oracle, from a checkout the user provides (it is not part of
this repository). For each template the script renders single- and multi-turn prompts, with and without
``<image>\\n`` in the first user message, through the official ``Conversation.get_prompt()``;
``tests/test_conversation.py`` checks ``mg_model.conversation`` against them.

    git clone https://github.com/dvlab-research/MGM /tmp/MGM   # HEAD 769820c
    python3 scripts/make_template_goldens.py /tmp/MGM/mgm/conversation.py
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "processing_template_goldens.json"
TEMPLATES = ["vicuna_v1", "gemma", "mistral_instruct", "chatml_direct", "llama_3", "plain"]
CASES = [
    {"history": [], "question": "What is this?", "num_images": 1},
    {"history": [], "question": "Say hi.", "num_images": 0},
    {"history": [["Describe it.", "A red bus."]], "question": "What colour?", "num_images": 1},
    {"history": [["Q1", "A1"], ["Q2", "A2"]], "question": "Q3", "num_images": 0},
]


def load_official(path: Path):
    """Import the official conversation.py on its own."""
    spec = importlib.util.spec_from_file_location("official_conversation", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def render(official, name: str, case: dict) -> str:
    """The prompt the official eval/CLI code builds: ``<image>\\n`` + first user message, then get_prompt()."""
    conv = official.conv_templates[name].copy()
    turns = [list(turn) for turn in case["history"]] + [[case["question"], None]]
    for index, (user, assistant) in enumerate(turns):
        if index == 0:
            user = "<image>\n" * case["num_images"] + user
        conv.append_message(conv.roles[0], user)
        conv.append_message(conv.roles[1], assistant)
    return conv.get_prompt()


def main() -> None:
    """Record the goldens."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("conversation_py", type=Path, help="path of the official mgm/conversation.py")
    args = parser.parse_args()
    official = load_official(args.conversation_py)
    records = []
    for name in TEMPLATES:
        for case in CASES:
            if name == "plain" and case["history"]:
                continue  # the official PLAIN style has sep2=None and crashes on an answered turn
            records.append({"template": name, **case, "prompt": render(official, name, case)})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"source": "dvlab-research/MGM@769820c mgm/conversation.py", "records": records},
                              ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(records)} records to {OUT}")


if __name__ == "__main__":
    main()
