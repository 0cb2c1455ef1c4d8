"""Small models whose token mixers are prodint layers, for the four training tasks.

A model embeds its input as a sequence ``h ∈ [B, T, width]``, applies ``depth`` pre-norm
residual blocks, normalises and reads out:

- ``"image"`` ``[B, 1, H, W] -> [B, classes]``: the image as a sequence of its ``H`` rows, each
  row of ``W = in_features`` pixels embedded linearly (``[B, 1, H, W] -> [B, H, W] -> [B, H,
  width]``);
- ``"sequence"`` ``[B, T, F] -> [B, classes]`` and ``"forecast"`` ``[B, T, F] -> [B,
  horizon]``: the ``F = in_features`` features of each step embedded linearly;
- ``"tokens"`` ``[B, T]`` int64 ``-> [B, T, classes]``: an ``nn.Embedding`` of ``vocab`` rows,
  a linear classifier at every position.

Each block is ``h ← h + mixer(LN(h))``, then (``mlp=True``) ``h ← h + W2 GELU(W1 LN(h))`` with
``W1: width -> 2·width``. The whole-sequence heads pool by the mean over time, or take the
last position when ``causal`` (then no output depends on a later input). The linear maps are
:class:`~prodint.zoo.Dense`; the mixer is one of :data:`~prodint.train.mixers.MIXERS`. Every
weight is drawn from a ``torch.Generator`` seeded by ``seed`` (and the global RNG is forked
and seeded around construction), so the same arguments build the same state dict. A mixer
may also be given as a builder (:data:`~prodint.train.mixers.Builder`: ``build(width, *,
causal, generator, dtype) -> nn.Module`` mapping ``[B, T, width] -> [B, T, width]``), called
once per block with the model's generator: a layer that is in no registry (a candidate of a
design-space search) becomes the mixer of the same model.

:func:`plain_torch_model` builds the same architecture in plain torch (``nn.Linear``,
``nn.Conv1d``, ``nn.MultiheadAttention``, a hand-written GLU and linear recurrence) for the
mixers of :data:`PLAIN_MIXERS`; :meth:`PlainModel.load_state_from` copies a prodint model's
weights so that both compute the same function.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from prodint.checks import (
    check_bool,
    check_choice,
    check_dtype,
    check_instance,
    check_int,
    check_parameter_memory,
    check_seed,
    check_tensor,
    describe,
)
from prodint.train.mixers import (
    DTYPES,
    KERNEL,
    MIXERS,
    Builder,
    SelfAttention,
    TimeConv,
    estimate_parameters,
)
from prodint.zoo import Dense

__all__ = ["MIXERS", "PLAIN_MIXERS", "TASKS", "MixerModel", "PlainModel", "build_model",
           "plain_torch_model"]

TASKS = ("image", "sequence", "tokens", "forecast")
PLAIN_MIXERS = ("dense", "conv", "softmax_attention", "glu", "linear_recurrence")


class ChannelMLP(nn.Module):
    """``W2 GELU(W1 x)`` on the last axis, ``width -> hidden -> width``."""

    def __init__(self, up: nn.Module, down: nn.Module) -> None:
        super().__init__()
        self.up, self.down = up, down

    def forward(self, x: Tensor) -> Tensor:
        return self.down(F.gelu(self.up(x)))


class Block(nn.Module):
    """``h + mixer(LN(h))``, then ``+ mlp(LN(h))`` when there is an MLP; ``[B, T, width]``."""

    def __init__(self, width: int, mixer: nn.Module, mlp: nn.Module | None,
                 dtype: torch.dtype) -> None:
        super().__init__()
        self.norm, self.mixer = nn.LayerNorm(width, dtype=dtype), mixer
        self.mlp_norm = nn.LayerNorm(width, dtype=dtype) if mlp is not None else None
        self.mlp = mlp

    def forward(self, h: Tensor) -> Tensor:
        h = h + self.mixer(self.norm(h))
        if self.mlp is not None:
            h = h + self.mlp(self.mlp_norm(h))
        return h


class MixerModel(nn.Module):
    """Embedding, residual blocks, final norm and head (module doc); built by
    :func:`build_model`, whose arguments it keeps in :attr:`config`."""

    def __init__(self, config: dict[str, object], embed: nn.Module, blocks: list[Block],
                 head: nn.Module) -> None:
        super().__init__()
        self.config = dict(config)
        self.embed, self.blocks, self.head = embed, nn.ModuleList(blocks), head
        self.norm = nn.LayerNorm(int(config["width"]), dtype=config["dtype"])

    def _check(self, x: object) -> Tensor:
        c, dtype = self.config, self.config["dtype"]
        if c["task"] == "tokens":
            x = check_tensor(x, "x", rank=2, layout="[B, T]", dtypes=(torch.int64,))
            if x.numel() and (int(x.min()) < 0 or int(x.max()) >= c["vocab"]):
                raise ValueError(f"x: expected token ids in [0, {c['vocab']}), received "
                                 f"values in [{int(x.min())}, {int(x.max())}]")
        elif c["task"] == "image":
            x = check_tensor(x, "x", rank=4, shape=(None, 1, None, c["in_features"]),
                             layout="[B, 1, H, W]", dtypes=(dtype,))
        else:
            x = check_tensor(x, "x", rank=3, shape=(None, None, c["in_features"]),
                             layout="[B, T, F]", dtypes=(dtype,))
        if x.shape[-2 if c["task"] == "image" else 1] == 0:
            raise ValueError(f"x: expected at least one step, received shape {tuple(x.shape)}")
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, classes]`` (image, sequence), ``[B, T, classes]`` (tokens) or the
        forecast ``[B, horizon]``."""
        x = self._check(x)
        h = self.embed(x[:, 0] if self.config["task"] == "image" else x)
        for block in self.blocks:
            h = block(h)
        h = self.norm(h)
        if self.config["task"] == "tokens":
            return self.head(h)
        return self.head(h[:, -1] if self.config["causal"] else h.mean(dim=1))


def _config(task: object, mixer: object, width: object, depth: object, classes: object,
            in_features: object, vocab: object, horizon: object, seed: object, dtype: object,
            causal: object, mlp: object, mixers: tuple[str, ...],
            builders: bool = False) -> dict[str, object]:
    """The checked arguments of :func:`build_model` (its docstring) as a dict; with
    ``builders``, ``mixer`` may be a builder (kept under ``"builder"``, its name under
    ``"mixer"``)."""
    check_choice(task, "task", TASKS)
    builder = mixer if builders and callable(mixer) and not isinstance(mixer, str) else None
    if builder is None:
        if builders and not isinstance(mixer, str):
            raise TypeError(f"mixer: expected a name among {sorted(mixers)} or a builder "
                            f"callable, received {describe(mixer)}")
        check_choice(mixer, "mixer", mixers)
    name = mixer if builder is None else getattr(builder, "__name__", type(builder).__name__)
    c: dict[str, object] = dict(task=task, mixer=name, width=check_int(width, "width",
                                                                       minimum=1),
                                depth=check_int(depth, "depth", minimum=1))
    wanted = {"classes": task != "forecast", "in_features": task != "tokens",
              "vocab": task == "tokens", "horizon": task == "forecast"}
    given = dict(classes=classes, in_features=in_features, vocab=vocab, horizon=horizon)
    for name, needed in wanted.items():
        value = given[name]
        if needed and value is None:
            raise ValueError(f"{name}: expected an int for task {task!r}, received None")
        if not needed and value is not None:
            raise ValueError(f"{name}: expected None for task {task!r} (it has no {name}), "
                             f"received {describe(value)}")
        c[name] = None if value is None else \
            check_int(value, name, minimum=2 if name == "classes" else 1)
    c.update(seed=check_seed(seed), dtype=check_dtype(dtype, dtypes=DTYPES, optional=False),
             causal=check_bool(causal, "causal"), mlp=check_bool(mlp, "mlp"))
    w, dt = c["width"], c["dtype"]
    source = "vocab" if task == "tokens" else "in_features"
    check_parameter_memory(c[source] * w, f"{source}, width", dt)
    check_parameter_memory(c["depth"] * ((estimate_parameters(mixer, w) if builder is None
                                          else 0) + 4 * w * w), "width, depth", dt)
    out = "horizon" if task == "forecast" else "classes"
    check_parameter_memory(c[out] * w, f"{out}, width", dt)
    if builder is not None:
        c["builder"] = builder
    return c


def _assemble(c: dict[str, object], plain: bool) -> nn.Module:
    """The model of config ``c``: prodint layers, or their plain-torch twins when ``plain``."""
    w, dtype, g = c["width"], c["dtype"], torch.Generator().manual_seed(c["seed"])

    def linear(i: int, o: int) -> nn.Module:
        return nn.Linear(i, o, dtype=dtype) if plain else Dense(i, o, dtype=dtype, generator=g)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(c["seed"])
        mixers = [(_plain_mixer if plain else _mixer)(c, g) for _ in range(c["depth"])]
        blocks = [Block(w, m, ChannelMLP(linear(w, 2 * w), linear(2 * w, w))
                        if c["mlp"] else None, dtype) for m in mixers]
        if c["task"] == "tokens":
            embed = nn.Embedding(c["vocab"], w, dtype=dtype)
            with torch.no_grad():
                embed.weight.normal_(generator=g)
        else:
            embed = linear(c["in_features"], w)
        head = linear(w, c["horizon"] if c["task"] == "forecast" else c["classes"])
        config = {k: v for k, v in c.items() if k != "builder"}   # plain data only
        return (PlainModel if plain else MixerModel)(config, embed, blocks, head)


def _mixer(c: dict[str, object], g: torch.Generator) -> nn.Module:
    build = c.get("builder") or MIXERS[c["mixer"]]
    layer = build(c["width"], causal=c["causal"], generator=g, dtype=c["dtype"])
    if not isinstance(layer, nn.Module):
        raise TypeError(f"mixer: expected a builder returning a torch.nn.Module, received "
                        f"one returning {describe(layer)}")
    return layer


def build_model(task: str, mixer: str | Builder, *, width: int = 32, depth: int = 2,
                classes: int | None = None, in_features: int | None = None,
                vocab: int | None = None, horizon: int | None = None, seed: int = 0,
                dtype: torch.dtype = torch.float32, causal: bool = False,
                mlp: bool = True) -> MixerModel:
    """A model for ``task`` whose blocks mix tokens with ``mixer`` (module doc for shapes).

    Args:
        task: one of :data:`TASKS`.
        mixer: a name in :data:`MIXERS`, or a builder ``build(width, *, causal, generator,
            dtype) -> nn.Module`` (``[B, T, width] -> [B, T, width]``) called once per block;
            ``config["mixer"]`` is then the builder's ``__name__``.
        width, depth: the model width and the number of blocks.
        classes: the number of classes (image, sequence, tokens; at least 2).
        in_features: the features per step (sequence, forecast) or the image width ``W``
            (image).
        vocab: the token vocabulary (tokens).
        horizon: the number of values forecast (forecast).
        seed: seeds every weight.
        dtype: ``torch.float32`` or ``torch.float64``.
        causal: build causal mixers and read the last position (no output depends on a later
            input); a mixer without a causal form is refused.
        mlp: add the channel MLP to each block.

    Raises:
        TypeError: an argument of the wrong type; a builder that does not return an
            ``nn.Module``.
        ValueError: an unknown task or mixer (the message lists the valid names), a size
            missing for the task, given where the task has none, or out of range (the
            parameters must fit in memory), ``causal=True`` with a mixer without a causal
            form, a width the mixer cannot split (naming ``width``).
    """
    return _assemble(_config(task, mixer, width, depth, classes, in_features, vocab, horizon,
                             seed, dtype, causal, mlp, tuple(MIXERS), builders=True),
                     plain=False)


class PlainGLU(nn.Module):
    """``a ⊙ σ(b)`` with ``[a, b] = x Wᵀ + bias`` (``W: width -> 2·width``): zoo's GLU."""

    def __init__(self, width: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.linear = nn.Linear(width, 2 * width, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return F.glu(self.linear(x), dim=-1)


class PlainRecurrence(nn.Module):
    """``h_t = a ⊙ h_{t-1} + x_t W``, ``h_{-1} = 0``, step by step on ``[B, T, width]``."""

    def __init__(self, width: int, dtype: torch.dtype) -> None:
        super().__init__()
        self.drive = nn.Linear(width, width, bias=False, dtype=dtype)
        self.a = nn.Parameter(torch.empty(width, dtype=dtype).uniform_(-1, 1))

    def forward(self, x: Tensor) -> Tensor:
        u, h, out = self.drive(x), torch.zeros_like(x[:, 0]), []
        for t in range(x.shape[1]):
            h = self.a * h + u[:, t]
            out.append(h)
        return torch.stack(out, dim=1)


def _plain_mixer(c: dict[str, object], g: torch.Generator) -> nn.Module:
    del g  # plain twins draw from the forked global generator; their weights are copied
    w, dtype, causal = c["width"], c["dtype"], c["causal"]
    pad = (KERNEL - 1, 0) if causal else ((KERNEL - 1) // 2,) * 2
    return {
        "dense": lambda: nn.Linear(w, w, dtype=dtype),
        "conv": lambda: TimeConv(nn.Conv1d(w, w, KERNEL, dtype=dtype), "ct", *pad),
        "softmax_attention": lambda: SelfAttention(
            nn.MultiheadAttention(w, 2 if w % 2 == 0 else 1, batch_first=True, dtype=dtype),
            causal),
        "glu": lambda: PlainGLU(w, dtype),
        "linear_recurrence": lambda: PlainRecurrence(w, dtype),
    }[c["mixer"]]()


def plain_torch_model(task: str, mixer: str, **options: object) -> PlainModel:
    """The architecture of ``build_model(task, mixer, **options)`` in plain torch, for a
    ``mixer`` in :data:`PLAIN_MIXERS` (its weights are its own until
    :meth:`PlainModel.load_state_from`).

    Raises:
        TypeError, ValueError: as :func:`build_model`; a mixer outside :data:`PLAIN_MIXERS`
            (``ValueError`` naming ``mixer``); an option :func:`build_model` does not take.
    """
    known = ("width", "depth", "classes", "in_features", "vocab", "horizon", "seed", "dtype",
             "causal", "mlp")
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise TypeError(f"options: expected keywords among {', '.join(known)}, received "
                        f"{', '.join(unknown)}")
    full = dict(width=32, depth=2, classes=None, in_features=None, vocab=None, horizon=None,
                seed=0, dtype=torch.float32, causal=False, mlp=True) | options
    return _assemble(_config(task, mixer, *(full[k] for k in known), PLAIN_MIXERS), plain=True)


class PlainModel(MixerModel):
    """A :class:`MixerModel` written in plain torch (:func:`plain_torch_model`)."""

    def load_state_from(self, model: MixerModel) -> PlainModel:
        """Copy the weights of ``model`` (built by :func:`build_model` with the same
        arguments, the seed aside) so that ``self(x) == model(x)``; returns ``self``.

        Raises:
            TypeError: ``model`` is not a :class:`MixerModel` (or is a plain one).
            ValueError: ``model`` was built with other arguments (other than ``seed``).
        """
        check_instance(model, "model", MixerModel)
        if isinstance(model, PlainModel):
            raise TypeError("model: expected a model of build_model, received a PlainModel")
        ours, theirs = ({k: v for k, v in c.items() if k != "seed"}
                        for c in (self.config, model.config))
        if ours != theirs:
            raise ValueError(f"model: expected a model built with {ours} (any seed), "
                             f"received one built with {theirs}")
        with torch.no_grad():
            _copy(self, model)
        return self


def _copy(target: nn.Module, source: nn.Module) -> None:
    """Copy the weights of the prodint module ``source`` into its plain twin ``target``."""
    if isinstance(target, nn.Linear):
        target.weight.copy_(source.param("W"))
        if target.bias is not None:
            target.bias.copy_(source.param("b"))
    elif isinstance(target, nn.Conv1d):
        target.weight.copy_(source.param("W"))
        target.bias.copy_(source.param("b"))
    elif isinstance(target, nn.MultiheadAttention):
        p = source.param
        target.in_proj_weight.copy_(torch.cat([p("Wq"), p("Wk"), p("Wv")]))
        target.in_proj_bias.copy_(torch.cat([p("bq"), p("bk"), p("bv")]))
        target.out_proj.weight.copy_(p("Wo"))
        target.out_proj.bias.copy_(p("bo"))
    elif isinstance(target, PlainGLU):
        target.linear.weight.copy_(torch.cat([source.param("W1"), source.param("W2")]))
        target.linear.bias.copy_(torch.cat([source.param("b1"), source.param("b2")]))
    elif isinstance(target, PlainRecurrence):
        target.drive.weight.copy_(source.param("W").T)
        target.a.copy_(source.param("a"))
    elif isinstance(target, (nn.LayerNorm, nn.Embedding)):
        target.load_state_dict(source.state_dict())
    else:
        for name, child in target.named_children():
            _copy(child, getattr(source, name))
