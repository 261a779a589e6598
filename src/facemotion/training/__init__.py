"""The training wing (``pip install 'facemotion[train]'``): the only part of facemotion that
imports torch.

- :mod:`.models`: the architectures and their registry (``create_model(name)``);
- :mod:`.checkpoint`: the checkpoint format (a model card beside the weights);
- :mod:`.augment`, :mod:`.ema`, :mod:`.engine` (``train_one_epoch``, ``evaluate``,
  optimizer and schedule), :mod:`.distill`, :mod:`.warmstart`;
- :mod:`.train` and :mod:`.evaluate`: ``get_args_parser`` + ``main`` of the commands;
- :mod:`.export`: ONNX export (checked against torch) and import;
- :mod:`.backend`: ``.pt`` checkpoints as classifiers for the inference core.

Importing this package imports nothing heavy; its modules import torch as they load (except
``train`` and ``evaluate``, whose parsers the CLI builds on the core install).
"""
