"""The DTN against a softmax Transformer on character-level Shakespeare.

Both models (:class:`~prodint.nn.dtn.DTN`, :class:`~prodint.nn.softmax_lm.SoftmaxLM`) have the
same width, depth, heads, MLP and tied embedding, hence the same parameter count; they differ
only in the token mixer (second-order tensor attention, order 5, against causal softmax
attention, order 3). Each is trained from the same seed on the same windows for the same
steps (:func:`~prodint.train.lm.train_lm`); the experiment records validation bits per
character over training, training tokens per second, and generation tokens per second after
prompts of growing length (timed interleaved, :func:`measure_speed`) — the DTN streams with a
constant-size state, the Transformer with a key/value cache that grows with the context — plus
a generated sample from each. It writes ``results.json``, ``curves.png`` and ``report.md`` to
the output folder (each atomically, :func:`~prodint.report.write_atomic`); ``prodint
shakespeare`` runs it.
"""

from __future__ import annotations

import io
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from prodint.bench.harness import interleaved_ms
from prodint.checks import check_float, check_int, check_memory
from prodint.data.shakespeare import CharCorpus
from prodint.nn.dtn import DTN
from prodint.nn.softmax_lm import SoftmaxLM
from prodint.nn.stacked_lm import StackedLMDecoder
from prodint.report import check_output_folder, write_atomic, write_json
from prodint.train.lm import LMConfig, LMHistory, bits_per_character, prefill, train_lm

__all__ = ["MAX_SAMPLE_TOKENS", "ExperimentConfig", "build_models", "check_sizes",
           "run_experiment"]

MODELS = ("dtn", "softmax")
Progress = Callable[[str, int, int], None]
#: The longest generated sample (characters, one streaming step each).
MAX_SAMPLE_TOKENS = 100_000


@dataclass(frozen=True)
class ExperimentConfig:
    """Model sizes, training recipe and measurements.

    ``generation_contexts``: prompt lengths after which greedy generation steps are timed.
    ``final_windows``: validation windows for the final bits per character (``None``: the
    whole validation split). ``timing_seconds``: least time per timed block of a training step
    (a generation block gets 40% of it).
    """

    width: int = 128
    depth: int = 2
    heads: int = 4
    train: LMConfig = field(default_factory=lambda: LMConfig(steps=1000, batch=4, length=1024,
                                                             eval_every=100, eval_windows=32))
    generation_contexts: tuple[int, ...] = (256, 1024, 4096)
    sample_tokens: int = 300
    final_windows: int | None = 128
    timing_seconds: float = 0.5

    def __post_init__(self) -> None:
        """Raises ``TypeError``/``ValueError`` for a field of the wrong kind or range, and for
        sizes whose models or training would not fit in memory (:func:`check_sizes`, with the
        smallest vocabulary)."""
        check_int(self.width, "width", minimum=1)
        check_int(self.depth, "depth", minimum=1)
        check_int(self.heads, "heads", minimum=1, maximum=self.width)
        if not isinstance(self.train, LMConfig):
            raise TypeError(f"train: expected an LMConfig, received "
                            f"{type(self.train).__name__} {self.train!r:.60}")
        contexts = self.generation_contexts
        if not isinstance(contexts, list | tuple) or not contexts:
            raise TypeError(f"generation_contexts: expected a non-empty tuple of ints, "
                            f"received {type(contexts).__name__} {contexts!r:.60}")
        object.__setattr__(self, "generation_contexts", tuple(
            check_int(c, "generation_contexts", minimum=1) for c in contexts))
        check_int(self.sample_tokens, "sample_tokens", minimum=0, maximum=MAX_SAMPLE_TOKENS)
        if self.final_windows is not None:
            check_int(self.final_windows, "final_windows", minimum=1)
        check_float(self.timing_seconds, "timing_seconds", minimum=0.0, maximum=3600.0)
        check_sizes(self, vocab=1)


def check_sizes(config: ExperimentConfig, vocab: int) -> None:
    """Refuse (``ValueError`` naming the option that sets the size) a configuration whose
    two models, their training or their timed generation would not fit in memory, before any
    of it is built (:func:`prodint.checks.check_memory`). The estimates are of float32
    tensors: both models with gradients and Adam's two moments, the activations kept for a
    backward pass (softmax attention's ``length²`` scores among them), and the prefill of the
    longest prompt. A refusal names the largest of the sizes that set the estimate (``vocab``,
    ``width`` or ``depth``; ``batch`` or ``length``).

    Raises:
        TypeError: ``config`` is not an :class:`ExperimentConfig`, ``vocab`` not an int.
        ValueError: ``vocab`` outside ``[1, 0x110000]`` (one token per Unicode character),
            or a size that does not fit.
    """
    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config: expected an ExperimentConfig, received "
                        f"{type(config).__name__} {config!r:.60}")
    # A character-level vocabulary has at most one token per Unicode code point.
    vocab = check_int(vocab, "vocab", minimum=1, maximum=0x110000)
    width, depth, heads = config.width, config.depth, config.heads
    embedding, blocks = vocab * width, 13 * depth * width**2
    largest = "vocab" if embedding > blocks else "depth" if depth > width else "width"
    check_memory(2 * 4 * 4 * (embedding + blocks), largest,
                 "two models (weights, gradients, Adam)")
    tokens = config.train.batch * config.train.length
    activations = 4 * tokens * (48 * depth * width + 3 * vocab)
    scores = 8 * config.train.batch * heads * depth * config.train.length**2
    check_memory(activations + scores,
                 "length" if config.train.length >= config.train.batch else "batch",
                 "training activations")
    longest = max(config.generation_contexts)
    check_memory(4 * longest * (heads * longest + 4 * depth * width + vocab),
                 "generation_contexts", "prefill of the longest prompt")


def build_models(vocab: int, config: ExperimentConfig) -> dict[str, nn.Module]:
    """Both models from the same seed; raises if their parameter counts differ.

    Raises:
        TypeError, ValueError: as :func:`check_sizes`, before anything is built, and for
            sizes the models refuse (heads that do not divide the width).
    """
    check_sizes(config, vocab)
    models: dict[str, nn.Module] = {}
    for name, cls in (("dtn", DTN), ("softmax", SoftmaxLM)):
        torch.manual_seed(config.train.seed)
        models[name] = cls(vocab, config.width, config.depth, config.heads)
    counts = {name: sum(p.numel() for p in m.parameters()) for name, m in models.items()}
    if len(set(counts.values())) != 1:
        raise RuntimeError(f"parameter counts differ: {counts}")
    return models


def measure_speed(models: dict[str, nn.Module], corpus: CharCorpus, config: ExperimentConfig,
                  ) -> dict[str, dict[str, float]]:
    """Training and generation speed of every model, timed interleaved (harness
    :func:`~prodint.bench.harness.interleaved_ms`) so that a busy machine slows all alike.

    Returns per model ``train_tokens_per_second`` (forward + backward of one training batch)
    and ``generation_tokens_per_second@{context}`` (one greedy token decoded by
    :class:`~prodint.nn.StackedLMDecoder`, as ``generate`` does, after a random prompt
    of ``context`` tokens, read in parallel by the model's ``prefill``).
    """
    generator = torch.Generator().manual_seed(config.train.seed)
    x, y = corpus.batch("train", config.train.batch, config.train.length, generator)
    names = list(models)
    speed: dict[str, dict[str, float]] = {name: {} for name in names}

    def train_step(model: nn.Module) -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x).flatten(0, 1), y.flatten()).backward()

    fns = [lambda m=models[n]: train_step(m) for n in names]
    times = interleaved_ms(fns, rounds=3, min_seconds=config.timing_seconds)
    for name, ms in zip(names, times, strict=True):
        speed[name]["train_tokens_per_second"] = x.numel() / (ms / 1e3)
    for model in models.values():
        model.zero_grad(set_to_none=True)
        model.eval()
    for context in config.generation_contexts:
        prompt = torch.randint(0, corpus.vocab_size, (1, context), generator=generator)
        streams = {}
        for n in names:
            logits, state = prefill(models[n], prompt)
            streams[n] = [logits, StackedLMDecoder(models[n], state)]

        def generate(name: str, streams: dict[str, list] = streams) -> None:
            logits, decoder = streams[name]
            with torch.no_grad():
                streams[name][0] = decoder.advance(logits.argmax(-1))

        fns = [lambda n=n: generate(n) for n in names]
        times = interleaved_ms(fns, rounds=3, min_seconds=0.4 * config.timing_seconds)
        for name, ms in zip(names, times, strict=True):
            speed[name][f"generation_tokens_per_second@{context}"] = 1e3 / ms
    return speed


def _sample(model: nn.Module, corpus: CharCorpus, prompt: str, tokens: int, seed: int) -> str:
    generator = torch.Generator().manual_seed(seed)
    ids = corpus.encode(prompt)[None]
    model.eval()
    logits, state = prefill(model, ids)
    with torch.no_grad():
        out = []
        for _ in range(tokens):
            token = torch.multinomial(torch.softmax(logits / 0.8, -1), 1, generator=generator)
            out.append(int(token))
            logits, state = model.step(token[:, 0], state)
    return prompt + corpus.decode(torch.tensor(out))


def _plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name in MODELS:
        h = results["models"][name]["history"]
        ax1.plot(h["eval_steps"], h["validation_bpc"], marker="o", label=name)
        gen = results["models"][name]["generation_tokens_per_second"]
        ax2.plot([int(c) for c in gen], list(gen.values()), marker="o", label=name)
    ax1.set(xlabel="step", ylabel="validation bits per character", title="Validation bpc")
    contexts = results["config"]["generation_contexts"]
    ax2.set(xlabel="context (tokens)", ylabel="generated tokens / s", xscale="log",
            title="Streaming generation speed", ylim=(0, None))
    ax2.set_xticks(contexts, [str(c) for c in contexts])
    ax2.minorticks_off()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    image = io.BytesIO()
    fig.savefig(image, format="png", dpi=120)
    plt.close(fig)
    write_atomic(path, image.getvalue())


def _report(results: dict) -> str:
    lines = ["# DTN against a softmax Transformer on character-level Shakespeare", "",
             f"Width {results['config']['width']}, depth {results['config']['depth']}, "
             f"heads {results['config']['heads']}, {results['parameters']} parameters each; "
             f"{results['config']['train']['steps']} steps of batch "
             f"{results['config']['train']['batch']} × {results['config']['train']['length']} "
             f"characters; {results['machine']}.", "",
             "Speeds are timed interleaved after training (one forward + backward of a "
             "training batch; one streaming step after a prompt of the given length); the "
             "wall-clock rate of the training run itself is in `results.json` "
             "(`history.tokens_per_second`).", "",
             "| model | validation bpc | training tokens/s | "
             + " | ".join(f"generation tok/s @ {c}" for c in results["config"]
                          ["generation_contexts"]) + " |",
             "|---|---|---|" + "---|" * len(results["config"]["generation_contexts"])]
    for name in MODELS:
        m = results["models"][name]
        gen = " | ".join(f"{v:.0f}" for v in m["generation_tokens_per_second"].values())
        lines.append(f"| {name} | {m['validation_bpc']:.3f} | "
                     f"{m['train_tokens_per_second']:.0f} | {gen} |")
    lines += ["", "![curves](curves.png)", ""]
    for name in MODELS:
        lines += [f"## Sample ({name})", "", "```", results["models"][name]["sample"], "```", ""]
    return "\n".join(lines)


def run_experiment(config: ExperimentConfig, out: Path, *, corpus: CharCorpus | None = None,
                   progress: Progress | None = None, prompt: str = "ROMEO.\n") -> dict:
    """Train and measure both models; write the results to ``out`` and return them.

    Args:
        config: the sizes, the recipe and the measurements.
        out: the folder of ``results.json``, ``curves.png`` and ``report.md`` (created).
        corpus: the text (default: the installed works, :meth:`CharCorpus.shakespeare`).
        progress: called as ``progress(message, step, total)`` while training.
        prompt: the start of each generated sample (characters of the corpus).

    Raises:
        TypeError, ValueError: before any training: an argument of the wrong kind, an
            ``out`` that cannot be written (:func:`~prodint.report.check_output_folder`), a
            prompt of characters outside the corpus, windows longer than a split, sizes
            that do not fit (:func:`build_models`).
        OSError: the corpus is missing, or a file cannot be written.
    """
    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"config: expected an ExperimentConfig, received "
                        f"{type(config).__name__} {config!r:.60}")
    folder = check_output_folder(out, "out", ("results.json", "curves.png", "report.md"))
    if corpus is not None and not isinstance(corpus, CharCorpus):
        raise TypeError(f"corpus: expected a CharCorpus, received {type(corpus).__name__} "
                        f"{corpus!r:.60}")
    if progress is not None and not callable(progress):
        raise TypeError(f"progress: expected a callable or None, received "
                        f"{type(progress).__name__} {progress!r:.60}")
    if not isinstance(prompt, str):
        raise TypeError(f"prompt: expected a str, received {type(prompt).__name__} "
                        f"{prompt!r:.60}")
    if not prompt:
        raise ValueError("prompt: expected at least one character, received ''")
    corpus = CharCorpus.shakespeare() if corpus is None else corpus
    try:
        corpus.encode(prompt)
    except ValueError as error:
        raise ValueError(f"prompt: {str(error).removeprefix('text: ')}") from None
    for split in ("train", "validation"):
        corpus.batch(split, 1, config.train.length, torch.Generator())
    models = build_models(corpus.vocab_size, config)
    results: dict = {"config": asdict(config), "vocab": corpus.vocab_size,
                     "train_characters": len(corpus.train),
                     "validation_characters": len(corpus.validation),
                     "parameters": sum(p.numel() for p in models["dtn"].parameters()),
                     "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, "
                                f"torch {torch.__version__}",
                     "models": {}}
    for name, model in models.items():
        def step_progress(step: int, loss: float, name: str = name) -> None:
            if progress is not None:
                progress(f"training {name} (loss {loss:.3f})", step, config.train.steps)

        history: LMHistory = train_lm(model, corpus, config.train, step_progress)
        if progress is not None:
            progress(f"evaluating {name}", config.train.steps, config.train.steps)
        results["models"][name] = {
            "history": history.as_dict(),
            "validation_bpc": bits_per_character(model, corpus, config.train.length,
                                                 config.final_windows),
            "sample": _sample(model, corpus, prompt, config.sample_tokens, config.train.seed),
        }
    if progress is not None:
        progress("measuring speed", config.train.steps, config.train.steps)
    for name, measured in measure_speed(models, corpus, config).items():
        entry = results["models"][name]
        entry["train_tokens_per_second"] = measured["train_tokens_per_second"]
        entry["generation_tokens_per_second"] = {
            str(c): measured[f"generation_tokens_per_second@{c}"]
            for c in config.generation_contexts}
    write_json(folder / "results.json", results)
    _plot(results, folder / "curves.png")
    write_atomic(folder / "report.md", _report(results))
    return results
