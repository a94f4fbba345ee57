"""ULMFiT end to end on the shared samples (an example, not a CI test): pre-train an AWD-LSTM language model
on Wikipedia articles, fine-tune it on movie-review snippets, then train sentiment classifiers on its encoder
with gradual unfreezing, and compare each with the same classifier trained from a random encoder.

    python examples/ulmfit.py [--data ../shared/data/text_sample] [--out /tmp/lamina_ulmfit]
                              [--seeds 3] [--few 300] [--quick] [--retrain] [--wiki-epochs 6]

Data: `text_sample/wiki/` (88 training, 16 validation articles, CC BY-SA 3.0) and `text_sample/texts.csv`
(2,000 labelled snippets, 405 for validation). The language models read the training snippets' text only
(no labels). Each classifier pair (pre-trained encoder / random encoder, same seed, same schedule) is trained
with every training label and with only `--few` of them (the regime where ULMFiT matters most), over
`--seeds` seeds. Prints the validation perplexities, the accuracies (mean, spread, paired difference) with
the majority-class rate, and the CPU and wall time of each stage. The Wikipedia model is saved in
`<out>/models/wiki_lm.pth` and reused by later runs unless `--retrain` (it is the slow stage: about 15-25
minutes on 2 CPU cores; the rest takes about 10). `--quick`: one epoch each, one seed, a few minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
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
MOMS = (0.8, 0.7, 0.8)


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
    learn.fit_one_cycle(epochs, slice(5e-3 / (2.6**4), 5e-3))


def pretrain_on_wikipedia(data: Path, out: Path, epochs: int) -> str:
    dls_wiki = TextDataLoaders.from_folder(
        data / "wiki", is_lm=True, bs=64, seq_len=70, min_freq=2, output_dir=out / "wiki_tok"
    )
    print(f"   {len(dls_wiki.train)} batches of 64 x 70 tokens per epoch, vocab {len(dls_wiki.vocab):,}")
    lm = language_model_learner(
        dls_wiki, AWD_LSTM, config=LM_CONFIG, pretrained=False, metrics=[accuracy, Perplexity()], path=out
    )
    lm.fit_one_cycle(epochs, 1e-2, moms=MOMS)
    path, digest = lm.save_pretrained("wiki_lm")
    return f"Wikipedia validation perplexity {last(lm):.1f}; weights {path} (sha256 {digest[:12]}...)"


def classifier(dls, seed: int, encoder: str | None, epochs: int) -> float:
    """Validation accuracy of a classifier trained with gradual unfreezing from `encoder` (None: random)."""
    torch.manual_seed(seed)
    learn = text_classifier_learner(dls, AWD_LSTM, config=CLAS_CONFIG, pretrained=False, metrics=accuracy)
    if encoder is not None:
        learn.load_encoder(encoder)
    with contextlib.redirect_stdout(io.StringIO()):  # one line per pair instead of 8 progress tables
        gradual_unfreezing(learn, epochs)
    return last(learn)


def compare(df: pd.DataFrame, n_labels: int | None, seeds: int, epochs: int, vocab, out: Path) -> str:
    """Pairs of classifiers (fine-tuned encoder / random encoder) over `seeds` seeds; a summary line."""
    train = df[~df.is_valid]
    if n_labels is not None and n_labels < len(train):
        train = train.sample(n_labels, random_state=0)
    data = pd.concat([train, df[df.is_valid]])
    dls = TextDataLoaders.from_df(
        data, text_col="text", label_col="label", valid_col="is_valid", text_vocab=vocab, bs=32, path=out
    )
    ulmfit, scratch = [], []
    for seed in range(seeds):
        ulmfit.append(classifier(dls, seed, "finetuned", epochs))
        scratch.append(classifier(dls, seed, None, epochs))
        print(f"   {len(train)} labels, seed {seed}: ULMFiT {ulmfit[-1]:.3f}, random {scratch[-1]:.3f}")
    diffs = [a - b for a, b in zip(ulmfit, scratch)]
    spread = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    wins = sum(d > 0 for d in diffs)
    return (
        f"{len(train)} labels: ULMFiT {statistics.mean(ulmfit):.3f}, "
        f"random encoder {statistics.mean(scratch):.3f}; "
        f"difference {100 * statistics.mean(diffs):+.1f} points (sd {100 * spread:.1f}), "
        f"ULMFiT ahead in {wins} of {len(diffs)} seeds"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = Path(os.environ.get("LAMINA_SHARED_DATA", REPO.parent / "shared" / "data")) / "text_sample"
    parser.add_argument("--data", type=Path, default=default_data)
    parser.add_argument("--out", type=Path, default=Path("/tmp/lamina_ulmfit"))
    parser.add_argument("--seeds", type=int, default=3, help="classifier pairs per label budget")
    parser.add_argument("--few", type=int, default=300, help="the small label budget")
    parser.add_argument("--quick", action="store_true", help="one epoch per stage, one seed")
    parser.add_argument("--retrain", action="store_true", help="pre-train on Wikipedia even if saved")
    parser.add_argument("--wiki-epochs", type=int, default=6, help="epochs of Wikipedia pre-training")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    ft_epochs, lm_epochs, clas_epochs = (1, 2, 1) if args.quick else (10, 20, 4)
    wiki_epochs = 1 if args.quick else args.wiki_epochs
    seeds = 1 if args.quick else args.seeds
    torch.manual_seed(0)
    start_cpu, start_wall = time.process_time(), time.perf_counter()
    summary: list = []

    with stage("1. language model pre-trained on Wikipedia", summary) as record:
        saved = out / "models" / "wiki_lm.pth"
        if saved.is_file() and not args.retrain:
            record["text"] = f"reusing {saved} (pass --retrain to train it again)"
        else:
            record["text"] = pretrain_on_wikipedia(args.data, out, wiki_epochs)

    df = pd.read_csv(args.data / "texts.csv")
    reviews = dict(text_col="text", valid_col="is_valid", path=out)
    with stage("2. language model fine-tuned on the reviews", summary) as record:
        torch.manual_seed(0)
        dls_lm = TextDataLoaders.from_df(df, is_lm=True, bs=32, seq_len=70, **reviews)
        ft = language_model_learner(
            dls_lm, AWD_LSTM, config=LM_CONFIG, pretrained_fnames="wiki_lm", metrics=[accuracy, Perplexity()]
        )
        before = ft.validate()[-1]
        ft.fit_one_cycle(1, 2e-2, moms=MOMS)  # embeddings and decoder only (frozen after loading)
        ft.unfreeze()
        ft.fit_one_cycle(ft_epochs, 5e-3, moms=MOMS)
        ft.save_encoder("finetuned")
        print(f"   generated: {ft.predict('This movie is', n_words=20, temperature=0.75, seed=0)}")
        record["text"] = (
            f"reviews validation perplexity {before:.1f} with the Wikipedia weights as they are, "
            f"{last(ft):.1f} fine-tuned"
        )

    with stage("3. the same language model trained on the reviews alone", summary) as record:
        torch.manual_seed(0)
        alone = language_model_learner(
            dls_lm, AWD_LSTM, config=LM_CONFIG, pretrained=False, metrics=[accuracy, Perplexity()]
        )
        alone.fit_one_cycle(lm_epochs, 1e-2, moms=MOMS)
        record["text"] = f"reviews validation perplexity {last(alone):.1f}"

    majority = float(df.loc[df.is_valid, "label"].value_counts(normalize=True).max())
    for n_labels in (None, args.few):
        title = "every training label" if n_labels is None else f"{n_labels} training labels"
        with stage(f"4. classifiers, {title}: fine-tuned vs random encoder", summary) as record:
            result = compare(df, n_labels, seeds, clas_epochs, dls_lm.vocab, out)
            record["text"] = f"{result} (majority class {majority:.3f})"

    print("\n== summary")
    for name, text, cpu, wall in summary:
        print(f"{name}\n   {text}\n   CPU {cpu:.0f} s, wall {wall:.0f} s")
    total_cpu, total_wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    print(f"total: CPU {total_cpu:.0f} s, wall {total_wall:.0f} s, {torch.get_num_threads()} torch threads")


if __name__ == "__main__":
    main()
