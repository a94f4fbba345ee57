"""ULMFiT end to end on the shared samples (an example, not a CI test): pre-train an AWD-LSTM language model
on Wikipedia articles, fine-tune it on movie-review snippets, then train a sentiment classifier on its encoder
with gradual unfreezing, and compare with the same classifier trained without the pre-trained encoder.

    python examples/ulmfit.py [--data ../shared/data/text_sample] [--out /tmp/lamina_ulmfit] [--quick]

Data: `text_sample/wiki/` (88 training, 16 validation articles, CC BY-SA 3.0) and `text_sample/texts.csv`
(2,000 labelled snippets). Prints the validation perplexities, the classifier accuracies (with the
majority-class rate) and the CPU and wall time of each stage. Takes 10-20 minutes on 2 CPU cores (`--quick`:
a few minutes).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import torch

from lamina.core.metrics import Perplexity, accuracy
from lamina.text.data import TextDataLoaders
from lamina.text.learner import language_model_learner, text_classifier_learner
from lamina.text.models.awd_lstm import AWD_LSTM

REPO = Path(__file__).resolve().parents[1]
SIZES = dict(emb_sz=200, n_hid=400, n_layers=2, pad_token=1, bidir=False)
LM_CONFIG = dict(
    SIZES,
    output_p=0.1,
    hidden_p=0.15,
    input_p=0.25,
    embed_p=0.02,
    weight_p=0.2,
    tie_weights=True,
    out_bias=True,
)
CLAS_CONFIG = dict(SIZES, output_p=0.4, hidden_p=0.3, input_p=0.4, embed_p=0.05, weight_p=0.5)


@contextmanager
def stage(name: str, summary: list) -> Iterator[dict]:
    """Time a stage (CPU and wall clock); what the body puts in `record["text"]` goes to the summary."""
    print(f"\n== {name}", flush=True)
    cpu, wall = time.process_time(), time.perf_counter()
    record = {"text": ""}
    yield record
    summary.append((name, record["text"], time.process_time() - cpu, time.perf_counter() - wall))
    print(f"   {record['text']}", flush=True)


def last(learn, column: int = -1) -> float:
    return float(learn.recorder.values[-1][column])


def gradual_unfreezing(learn, epochs: int) -> None:
    """ULMFiT's schedule: head, then one more layer group at a time, discriminative learning rates."""
    learn.fit_one_cycle(1, 2e-2)
    learn.freeze_to(-2)
    learn.fit_one_cycle(1, slice(1e-2 / (2.6**4), 1e-2))
    learn.freeze_to(-3)
    learn.fit_one_cycle(1, slice(5e-3 / (2.6**4), 5e-3))
    learn.unfreeze()
    learn.fit_one_cycle(epochs, slice(5e-3 / (2.6**2), 5e-3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("LAMINA_SHARED_DATA", REPO.parent / "shared" / "data")) / "text_sample"
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--out", type=Path, default=Path("/tmp/lamina_ulmfit"))
    parser.add_argument("--quick", action="store_true", help="fewer epochs")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    wiki_epochs, ft_epochs, clas_epochs = (1, 1, 2) if args.quick else (6, 4, 4)
    torch.manual_seed(0)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    summary: list = []

    with stage("1. language model pre-trained on Wikipedia", summary) as record:
        dls_wiki = TextDataLoaders.from_folder(
            args.data / "wiki", is_lm=True, bs=64, seq_len=70, min_freq=2, output_dir=out / "wiki_tok"
        )
        print(f"   {len(dls_wiki.train)} batches of 64 x 70 tokens per epoch, vocab {len(dls_wiki.vocab):,}")
        lm = language_model_learner(
            dls_wiki, AWD_LSTM, config=LM_CONFIG, pretrained=False, metrics=[accuracy, Perplexity()], path=out
        )
        lm.fit_one_cycle(wiki_epochs, 1e-2, moms=(0.8, 0.7, 0.8))
        path, digest = lm.save_pretrained("wiki_lm")
        record["text"] = (
            f"Wikipedia validation perplexity {last(lm):.1f}; weights {path} (sha256 {digest[:12]}...)"
        )

    df = pd.read_csv(args.data / "texts.csv")
    reviews = dict(text_col="text", valid_col="is_valid", path=out)
    with stage("2. language model fine-tuned on the reviews", summary) as record:
        dls_lm = TextDataLoaders.from_df(df, is_lm=True, bs=32, seq_len=70, **reviews)
        ft = language_model_learner(
            dls_lm, AWD_LSTM, config=LM_CONFIG, pretrained_fnames="wiki_lm", metrics=[accuracy, Perplexity()]
        )
        before = ft.validate()[-1]
        ft.fit_one_cycle(1, 2e-2, moms=(0.8, 0.7, 0.8))  # embeddings and decoder only (frozen after loading)
        ft.unfreeze()
        ft.fit_one_cycle(ft_epochs, 2e-3, moms=(0.8, 0.7, 0.8))
        ft.save_encoder("finetuned")
        scratch = language_model_learner(
            dls_lm, AWD_LSTM, config=LM_CONFIG, pretrained=False, metrics=[accuracy, Perplexity()]
        )
        scratch.fit_one_cycle(1 + ft_epochs, 2e-2, moms=(0.8, 0.7, 0.8))
        print(f"   generated: {ft.predict('This movie is', n_words=20, temperature=0.75, seed=0)}")
        record["text"] = (
            f"reviews validation perplexity: {before:.1f} with the Wikipedia weights as they are, "
            f"{last(ft):.1f} fine-tuned, {last(scratch):.1f} for the same model trained on the reviews alone"
        )

    majority = float(df.loc[df.is_valid, "label"].value_counts(normalize=True).max())
    dls_clas = TextDataLoaders.from_df(df, label_col="label", text_vocab=dls_lm.vocab, bs=32, **reviews)
    results = {}
    with stage("3. classifier on the fine-tuned encoder, gradual unfreezing", summary) as record:
        clas = text_classifier_learner(
            dls_clas, AWD_LSTM, config=CLAS_CONFIG, pretrained=False, metrics=accuracy
        )
        clas.load_encoder("finetuned")
        gradual_unfreezing(clas, clas_epochs)
        results["pretrained"] = last(clas)
        print(f"   predict('A wonderful, moving film.') -> {clas.predict('A wonderful, moving film.')[0]}")
        record["text"] = f"accuracy {results['pretrained']:.3f} (majority class {majority:.3f})"

    with stage("4. the same classifier without the pre-trained encoder", summary) as record:
        torch.manual_seed(0)
        same = text_classifier_learner(
            dls_clas, AWD_LSTM, config=CLAS_CONFIG, pretrained=False, metrics=accuracy
        )
        gradual_unfreezing(same, clas_epochs)
        torch.manual_seed(0)
        free = text_classifier_learner(
            dls_clas, AWD_LSTM, config=CLAS_CONFIG, pretrained=False, metrics=accuracy
        )
        free.unfreeze()
        free.fit_one_cycle(3 + clas_epochs, 5e-3)
        record["text"] = (
            f"accuracy {last(same):.3f} with the same schedule, {last(free):.3f} training every layer "
            "from the start (same number of epochs)"
        )

    print("\n== summary")
    for name, text, cpu, wall in summary:
        print(f"{name}\n   {text}\n   CPU {cpu:.0f} s, wall {wall:.0f} s")
    total_cpu, total_wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    print(f"total: CPU {total_cpu:.0f} s, wall {total_wall:.0f} s, {torch.get_num_threads()} torch threads")


if __name__ == "__main__":
    main()
