"""The lamina-text demo (registered as `"text"` through the `lamina_demos` hook): ULMFiT in miniature on the
shipped Wikipedia sample.

1. a small AWD-LSTM language model trained on the 20 training articles (validated on the 5 others);
2. its encoder saved and loaded into a classifier that tells `place` paragraphs from `science` ones
   (paragraphs of the validation articles validate), trained with gradual unfreezing;
3. `text_show_results.txt` in `out_dir`: the language model's and the classifier's `show_results` tables,
   and a generated text.

Returns the validation perplexity and accuracy, with the majority-class rate to compare against.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import torch

from lamina.core.metrics import Perplexity, accuracy
from lamina.text.data import TextDataLoaders
from lamina.text.learner import language_model_learner, text_classifier_learner
from lamina.text.models.awd_lstm import AWD_LSTM
from lamina.text.samples import sample_path, wiki_paragraphs
from lamina.text.show import format_texts_table

__all__ = ["demo", "DEMO_LM_CONFIG", "DEMO_CLAS_CONFIG"]

_SIZES = dict(emb_sz=100, n_hid=200, n_layers=2, pad_token=1, bidir=False)
DEMO_LM_CONFIG: dict = dict(
    _SIZES,
    output_p=0.1,
    hidden_p=0.15,
    input_p=0.25,
    embed_p=0.02,
    weight_p=0.2,
    tie_weights=True,
    out_bias=True,
)
"""The demo's small language model (ULMFiT's dropouts, 1/20th of its size)."""
DEMO_CLAS_CONFIG: dict = dict(_SIZES, output_p=0.4, hidden_p=0.3, input_p=0.4, embed_p=0.05, weight_p=0.5)
"""The demo's classifier encoder (same sizes as the language model, so its encoder loads)."""


def demo(out_dir: Path, quick: bool = False) -> dict[str, Any]:
    """Train the demo's language model and classifier (see the module docstring); `quick` trains fewer epochs.
    Writes `text_show_results.txt` (and the tokenized sample, the token cache and the encoder) in
    `out_dir`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    random.seed(42)  # the loaders' shuffling
    torch.manual_seed(42)
    start = time.perf_counter()
    lm_epochs, clas_epochs = (1, 1) if quick else (4, 2)

    dls_lm = TextDataLoaders.from_folder(
        sample_path(), is_lm=True, bs=32, seq_len=64, min_freq=2, output_dir=out_dir / "wiki_tok", seed=42
    )
    learn = language_model_learner(
        dls_lm, AWD_LSTM, config=DEMO_LM_CONFIG, pretrained=False, metrics=Perplexity(), path=out_dir
    )
    train, n_vocab = dls_lm.train, len(dls_lm.vocab)
    print(f"language model: {len(train)} batches of {train.bs} x {train.seq_len} tokens, vocab {n_vocab}")
    learn.fit_one_cycle(lm_epochs, 1e-2, moms=(0.8, 0.7, 0.8))
    perplexity = learn.recorder.values[-1][-1]
    generated = learn.predict("The river", n_words=25, temperature=0.75, seed=0)
    lm_table = learn.show_results(max_n=3, show=False)
    learn.save_encoder("demo_encoder")

    paragraphs = wiki_paragraphs()
    dls = TextDataLoaders.from_df(
        paragraphs,
        text_col="text",
        label_col="label",
        valid_col="is_valid",
        text_vocab=dls_lm.vocab,
        bs=32,
        cache_dir=out_dir / "token_cache",
    )
    clas = text_classifier_learner(
        dls, AWD_LSTM, config=DEMO_CLAS_CONFIG, pretrained=False, metrics=accuracy, path=out_dir
    )
    clas.load_encoder("demo_encoder")
    clas.fit_one_cycle(1, 2e-2)
    clas.freeze_to(-2)
    clas.fit_one_cycle(1, slice(1e-2 / (2.6**4), 1e-2))
    clas.unfreeze()
    clas.fit_one_cycle(clas_epochs, slice(2e-3 / (2.6**4), 2e-3))
    acc = clas.recorder.values[-1][-1]
    majority = float(paragraphs.loc[paragraphs.is_valid, "label"].value_counts(normalize=True).max())
    clas_table = clas.show_results(max_n=6, show=False)

    report = out_dir / "text_show_results.txt"
    report.write_text(
        "Language model (validation articles): text, the next tokens, the model's guesses\n\n"
        + format_texts_table(lm_table)
        + f"\nGenerated from 'The river': {generated}\n\n"
        + "Classifier (paragraphs of the validation articles): text, topic, prediction\n\n"
        + format_texts_table(clas_table),
        encoding="utf-8",
    )
    print(f"show_results written to {report}")
    return {
        "lm_valid_perplexity": round(float(perplexity), 1),
        "clas_valid_accuracy": round(float(acc), 3),
        "majority_rate": round(majority, 3),
        "seconds": round(time.perf_counter() - start, 1),
    }
