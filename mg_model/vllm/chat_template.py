"""The checkpoint's official conversation template as a chat template for ``vllm serve`` / ``LLM.chat``.

Released MGM checkpoints ship no chat template; their prompts are the official conversation templates
(:mod:`mg_model.conversation`). This module writes, for one checkpoint, the Jinja template that renders a
single user turn exactly as :meth:`mg_model.MGMProcessor.render_prompt` does (text-only, or one image: vLLM puts
``<image>`` and a newline before the text, the official ``<image>\\n`` prefix)::

    python -m mg_model.vllm.chat_template /path/MGM-7B > mgm-7b.jinja
    vllm serve /path/MGM-7B --chat-template mgm-7b.jinja

The served path tokenises the rendered text with the checkpoint's transformers tokenizer; the harness's
``vllm`` backend instead sends the official token ids (docs/vllm.md says which is exact).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: the user text stands here while the template is rendered once to find what surrounds it
_SLOT = "\x00MGM-USER-TEXT\x00"


def chat_template_for(checkpoint: str | Path, encoder_root: str | Path | None = None) -> str:
    """A Jinja chat template: the official prompt of the last user message (earlier turns are not supported)."""
    from mg_model.processing_mgm import MGMProcessor

    prompt = MGMProcessor.from_pretrained(checkpoint, encoder_root=encoder_root).render_prompt(_SLOT, has_image=False)
    before, after = prompt.split(_SLOT)
    return ("{%- set user = messages | selectattr('role', 'equalto', 'user') | list | last -%}"
            f"{{{{ {json.dumps(before)} }}}}"
            "{{ user.content }}"
            f"{{{{ {json.dumps(after)} }}}}")


def main(argv: list[str] | None = None) -> int:
    """``python -m mg_model.vllm.chat_template CHECKPOINT``: print the template."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mg_model.vllm.chat_template CHECKPOINT_DIR", file=sys.stderr)
        return 2
    print(chat_template_for(args[0]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
