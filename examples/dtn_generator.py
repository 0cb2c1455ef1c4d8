"""A streaming Deep Tensor Network generator, trained on Shakespeare character by character.

A ``DTN`` (tensor attention for token mixing, an order-5 interaction) trains briefly on the
complete works of Shakespeare read offline (``prodint.data.shakespeare``), then generates
text token by token with a state whose size does not grow with the context: the script
prints the validation bits per character, checks that streaming (``prefill`` then ``step``)
gives the logits of the parallel ``forward``, measures the state after prompts of several
lengths, and prints a sample. ``--small`` (or ``PRODINT_DOCS_SMALL=1``) trains a few steps
of a tiny model.

    python examples/dtn_generator.py [--small] [--steps N]
"""

import argparse
import os

import torch

from prodint.data.shakespeare import CharCorpus, load_text
from prodint.nn import DTN
from prodint.train.lm import LMConfig, bits_per_character, train_lm


def state_numel(state: object) -> int:
    """The number of values a model's streaming state holds (tensors nested in tuples)."""
    if isinstance(state, torch.Tensor):
        return state.numel()
    if isinstance(state, tuple | list):
        return sum(state_numel(part) for part in state)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="a tiny model, a few steps")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps")
    args = parser.parse_args()
    small = args.small or os.environ.get("PRODINT_DOCS_SMALL") == "1"
    steps = args.steps if args.steps is not None else (5 if small else 300)
    width, length = (32, 64) if small else (64, 128)
    text = load_text()
    corpus = CharCorpus.from_text(text[: 200_000 if small else 2_000_000])
    vocab = len(corpus.alphabet)
    model = DTN(vocab, width=width, depth=2, heads=4, generator=torch.Generator().manual_seed(0))
    print(f"DTN: {sum(p.numel() for p in model.parameters())} parameters, order "
          f"{model.self_interaction_order}, vocabulary {vocab}")
    train_lm(model, corpus, LMConfig(steps=steps, batch=16, length=length, warmup=steps // 10,
                                     eval_every=steps, eval_windows=8))
    model.eval()
    print(f"validation bits per character after {steps} steps: "
          f"{bits_per_character(model, corpus, length, windows=16):.3f}")

    prompt = corpus.validation[:48].unsqueeze(0)
    with torch.no_grad():
        parallel = model(prompt)
        logits, state = model.prefill(prompt[:, :40])
        streamed = [logits[:, -1]]
        for t in range(40, 47):
            step_logits, state = model.step(prompt[:, t], state)
            streamed.append(step_logits)
    print("prefill + step == forward:",
          torch.allclose(torch.stack(streamed, 1), parallel[:, 39:47], atol=1e-4))

    with torch.no_grad():
        for context in (64, 256, 1024):
            _, state = model.prefill(corpus.validation[:context].unsqueeze(0))
            print(f"state after a {context}-character prompt: {state_numel(state)} values")
        sample = model.generate(prompt[:, :16], 120 if not small else 20, temperature=0.8,
                                generator=torch.Generator().manual_seed(0))
    print("sample:", repr("".join(corpus.alphabet[int(i)] for i in sample[0])))


if __name__ == "__main__":
    main()
