"""Surveys: the library measured and checked, one report table per topic (application layer).

Each module runs a part of the library on small fixed inputs, checks it against an
independent computation and returns typed rows plus a :class:`~prodint.report.Section` (its
table in the demo report, with whether every check passed):

- :mod:`prodint.surveys.algebra`: the algebra catalogue with each defining identity checked;
- :mod:`prodint.surveys.interaction`: the expression library compiled, learned structure
  constants under a symmetry, the size of the design space;
- :mod:`prodint.surveys.zoo`: every zoo family's ``forward``, ``general`` and ``reference``
  against its torch (or peer) counterpart, and their speed;
- :mod:`prodint.surveys.ops`: the Deep Tensor Network operators' three forms, and the chunked
  form timed against softmax attention;
- :mod:`prodint.surveys.hypercube`: HyperCube's verdict on group and non-group tables.

Surveys sit above the library and the benchmark harness (:mod:`prodint.bench`, whose timers
they use) and below the command line (:mod:`prodint.cli`), which prints and writes them.
"""
