"""The one way prodint checks the arguments of its public API.

Every public constructor and function of every package checks its arguments with these
validators before any work or large allocation, so that bad input fails at the boundary
with a message of one form,

    ``"<argument>: expected <what is accepted>, received <what was given>"``,

a ``TypeError`` when the kind is wrong (a ``str`` for an int, an integer tensor for a
floating kernel) and a ``ValueError`` when the kind is right but the value is not (``0``
heads, a ``NaN`` learning rate, a shape that does not match). The rules:

- **integers** are ``int`` (or anything with ``__index__``, such as a numpy integer), never
  ``bool``, a tensor, or a float, even an integral one: ``max_steps=2.5`` and
  ``max_steps=3.0`` are both refused (:func:`check_int`, :func:`check_seed`);
- **real hyper-parameters** are finite unless a bound says otherwise (:func:`check_float`);
  ``NaN`` never passes a bound;
- **options** are one of their choices (:func:`check_choice`), flags are bools
  (:func:`check_bool`), names are identifiers (:func:`check_name`), and ``device`` /
  ``dtype`` / ``generator`` options are checked alike everywhere (:func:`check_device`,
  :func:`check_dtype`, :func:`check_generator`);
- **tensors** are checked for kind, rank or shape, dtype (each kernel names the dtypes it
  supports) and device (all tensors of one call on one device) by :func:`check_tensor` and
  :func:`check_same_device`; the *values* of input tensors are not checked: NaN and inf pass
  through as they do in torch;
- **layers** check their options and the memory of their parameters before building, and
  their inputs against their parameters (:func:`check_layer_options`,
  :func:`check_parameter_memory`, :func:`check_layer_input`, :func:`check_features`,
  and a convolution's output grid, ``prodint.checks.layers.check_conv_output``);
- **sizes**: a function that allocates memory or enumerates a set whose size follows from
  its arguments estimates it first and refuses with the estimate
  (:func:`check_memory`, :func:`check_count`), so that no call starts allocating terabytes.
  The budget is :func:`memory_limit`: half the machine's physical memory, or the number of
  bytes in the environment variable ``PRODINT_MAX_BYTES``.

The validators check their own arguments too (an ``argument`` that is not a str, a bound
that is not a number), so a mistake in a caller's check fails loudly instead of passing.
"""

from prodint.checks.layers import (
    check_features,
    check_layer_input,
    check_layer_options,
    check_parameter_memory,
)
from prodint.checks.options import (
    check_callable,
    check_instance,
    check_name,
    check_names,
    check_seed,
)
from prodint.checks.scalars import check_bool, check_choice, check_float, check_int, describe
from prodint.checks.sizes import check_count, check_memory, format_bytes, memory_limit
from prodint.checks.tensors import (
    FLOATING,
    check_device,
    check_dtype,
    check_generator,
    check_same_device,
    check_tensor,
)

__all__ = [
    "FLOATING",
    "check_bool",
    "check_callable",
    "check_choice",
    "check_count",
    "check_device",
    "check_dtype",
    "check_features",
    "check_float",
    "check_generator",
    "check_instance",
    "check_int",
    "check_layer_input",
    "check_layer_options",
    "check_memory",
    "check_name",
    "check_names",
    "check_parameter_memory",
    "check_same_device",
    "check_seed",
    "check_tensor",
    "describe",
    "format_bytes",
    "memory_limit",
]
