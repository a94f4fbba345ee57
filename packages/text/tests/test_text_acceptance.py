"""Acceptance: the paper's text code (ULMFiT) runs as written on the 2,000 review snippets of
`text_sample/texts.csv`, with a small AWD-LSTM (embedding 100, hidden 200, 2 layers) so it fits a CPU test.

Language model: `tokenize_df`, `make_vocab`, `TextDataLoaders.from_df(..., is_lm=True)`,
`language_model_learner(dls_lm, AWD_LSTM, metrics=Perplexity())`,
`fit_one_cycle(1, 2e-2, moms=(0.8,0.7,0.8))`, `save_encoder`. Classifier: the language model's vocabulary,
`load_encoder`, then gradual unfreezing with discriminative learning rates (`freeze_to(-2)`, `freeze_to(-3)`,
`slice(lr/2.6**4, lr)`) and a last phase of 5 epochs with every layer training. A language model trained for
one epoch on 1,600 snippets gives the classifier little (its pooled features hardly vary between texts), so
the classifier needs those epochs, and it runs without AR/TAR (`alpha=0, beta=0`): with them, about one run in
three stayed at chance level within this budget.

The bar: the validation accuracy beats the majority-class rate (52.6%: 213 negative of 405) by at least 5
points (57.6%). Seven runs of this recipe (seeds 1-7) reached 62.2% to 67.2%.
"""

import math
import random

import torch

from lamina.core.metrics import Perplexity, accuracy
from lamina.text.data import TextDataLoaders
from lamina.text.learner import language_model_learner, text_classifier_learner
from lamina.text.models.awd_lstm import AWD_LSTM
from lamina.text.tokenize import tokenize_df
from lamina.text.vocab import make_vocab

SIZES = dict(emb_sz=100, n_hid=200, n_layers=2, pad_token=1, bidir=False)
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
MARGIN = 0.05


def test_ulmfit_on_the_review_snippets(texts_df, tmp_path):
    random.seed(0)  # the loaders' shuffling
    torch.manual_seed(0)
    df = texts_df
    df_tok, count = tokenize_df(df, "text")
    vocab = make_vocab(count)
    assert df_tok.columns.tolist() == ["label", "is_valid", "text", "text_length"]
    assert vocab[:2] == ["xxunk", "xxpad"] and "movie" in vocab

    dls_lm = TextDataLoaders.from_df(
        df, path=tmp_path, text_col="text", is_lm=True, valid_col="is_valid", bs=32
    )
    assert set(dls_lm.vocab) <= set(vocab)  # its vocab counts the training rows only
    learn = language_model_learner(dls_lm, AWD_LSTM, config=LM_CONFIG, pretrained=False, metrics=Perplexity())
    with learn.no_bar():
        learn.fit_one_cycle(1, 2e-2, moms=(0.8, 0.7, 0.8))
    valid_loss, perplexity = learn.recorder.values[-1][1:]
    assert abs(perplexity - math.exp(valid_loss)) < 1e-3 * perplexity
    assert perplexity < len(dls_lm.vocab) / 4  # far better than guessing among the vocabulary
    learn.save_encoder("finetuned")

    dls_clas = TextDataLoaders.from_df(
        df,
        path=tmp_path,
        text_col="text",
        label_col="label",
        valid_col="is_valid",
        text_vocab=dls_lm.vocab,
        bs=32,
    )
    learn = text_classifier_learner(
        dls_clas, AWD_LSTM, config=CLAS_CONFIG, pretrained=False, metrics=accuracy, alpha=0.0, beta=0.0
    )
    learn.load_encoder("finetuned")
    with learn.no_bar():
        learn.fit_one_cycle(1, 2e-2)
        learn.freeze_to(-2)
        learn.fit_one_cycle(1, slice(1e-2 / (2.6**4), 1e-2))
        learn.freeze_to(-3)
        learn.fit_one_cycle(1, slice(5e-3 / (2.6**4), 5e-3))
        learn.unfreeze()
        learn.fit_one_cycle(5, 5e-3)
    acc = learn.recorder.values[-1][-1]
    majority = df.loc[df.is_valid, "label"].value_counts(normalize=True).max()
    assert round(majority, 3) == 0.526
    assert acc >= majority + MARGIN, f"accuracy {acc:.3f} vs majority {majority:.3f}"
    label, _, probs = learn.predict("A wonderful, moving film with great performances.")
    assert label in ("negative", "positive") and abs(float(probs.sum()) - 1) < 1e-5
