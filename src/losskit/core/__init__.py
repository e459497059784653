"""The shared base every layer may use; it imports no other losskit package.

================  =====================================================================
``errors``        the user errors (one line, exit 2 on the CLI) and warnings
``_validation``   argument and value checks, declared once (``@checks``)
``options``       a method's parameters, declared once (:class:`~losskit.core.options.Options`)
``registry``      name → factory registries (configs name things by string)
``method``        the training-method interface (setup, bind, step) and ``build_run``
``step``          the one train step (zero_grad → forward → loss → backward → step)
``composites``    composite loss names (``uniloss:<metric>``, ``slf:<a>+<b>``) by prefix
``labels``        class counts of integer labels
``ranking``       ranking metrics on model outputs (AP, AUC; evaluation and UniLoss)
``distributed``   torch.distributed helpers (a no-op in one process)
``environment``   machine / library facts recorded with results
``locking``       an advisory file lock (the append-only results file)
``_io``           atomic writes
``_random``       seeded generators
================  =====================================================================

Each module keeps its old path (``losskit.step`` …, ``losskit.metrics`` for ``ranking``) as an
alias.
"""
