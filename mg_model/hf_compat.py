"""Names that differ between the transformers releases ``mg_model`` supports (the main lock's 5.24 and the
vLLM environment's 5.19; requirements/lock.txt, requirements/lock-vllm.txt)."""

from __future__ import annotations

import dataclasses

from transformers.modeling_outputs import CausalLMOutputWithPast

#: transformers' name of the KV cache in model outputs and in ``forward`` / ``generate`` arguments: ``cache``
#: since it renamed ``past_key_values`` (the old name now warns on every call), ``past_key_values`` before
#: (5.19 takes an unknown ``cache=`` silently and starts an empty cache)
CACHE_ARG = "cache" if "cache" in {f.name for f in dataclasses.fields(CausalLMOutputWithPast)} else "past_key_values"
