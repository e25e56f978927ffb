"""Checkpoint I/O: the official checkpoint layout read and written, with no model code.

``dirs`` (checkpoint / encoder folder lookup, the one JSON reader), ``tensors`` (weight files, lazy tensor
reads, official <-> internal key names), ``loading`` (``load_mgm``), ``saving`` (``save_mgm``) and
``tokenizer_files`` (a checkpoint's tokenizer). Nothing here imports ``modeling_mgm``, the vision modules or
``mg_model.generation`` (tests/test_model_layout.py); importing this package imports none of its modules.
"""
