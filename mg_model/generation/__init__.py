"""Generation and serving optimisations around ``MGMForCausalLM.generate``; none changes a token.

``fast_decode`` (``DecodeOptions``: LLM attention, static cache, compile), ``sampling`` (seeded per-sample
sampling), ``feature_cache`` (each distinct image encoded once), ``prefix_sharing`` (shared-prefix and beam
prefill once), ``continuous`` (continuous batching), ``vision_chunks`` (the HR vision path within a byte
budget). They import only the architecture modules, never checkpoint I/O (tests/test_model_layout.py);
importing this package imports none of its modules.
"""
