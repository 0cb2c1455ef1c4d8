"""Experiments: models trained on real or generated data and compared (application layer).

- :mod:`prodint.experiments.shakespeare`: a Deep Tensor Network against a softmax
  Transformer of the same size on character-level Shakespeare (``prodint shakespeare``);
- :mod:`prodint.experiments.polycubes`: a tensor field network against a coordinate MLP on
  rotated polycubes (``prodint symmetry``).

Experiments build on the whole library, time with the benchmark harness
(:mod:`prodint.bench`) and write their results with :mod:`prodint.report`; the command line
(:mod:`prodint.cli`) runs them.
"""
