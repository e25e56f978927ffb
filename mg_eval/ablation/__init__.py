"""Ablations: the spec format (:mod:`.spec`), evaluating its rows (:mod:`.run`) and building missing rows'
checkpoints from a training recipe (:mod:`.train`, needs the ``train`` extra). Tables and figures over the
runs are in :mod:`mg_eval.analysis` (which never runs a model)."""
