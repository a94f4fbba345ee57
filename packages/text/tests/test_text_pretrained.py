"""Pretrained language-model weights: export, local cache with sha256, download from a local server, offline
messages, fastai's format, vocabulary matching."""

import functools
import http.server
import pickle
import tarfile
import threading
from collections import OrderedDict

import pandas as pd
import pytest
import torch

from lamina.core.data.download import VerificationError, file_digest
from lamina.core.data.external import UnverifiedDownloadWarning
from lamina.text import pretrained as P
from lamina.text.data import TextDataLoaders
from lamina.text.learner import language_model_learner, text_classifier_learner, text_vocab
from lamina.text.models.awd_lstm import AWD_LSTM
from lamina.text.pretrained import (
    PretrainedUnavailableError,
    PretrainedWeights,
    convert_fastai_weights,
    load_lm_weights,
    match_embeds,
    pretrained_file,
    read_vocab,
    register_pretrained,
)
from lamina.text.tokenizers import BaseTokenizer

SIZES = dict(emb_sz=8, n_hid=16, n_layers=2, pad_token=1, bidir=False)
LM_CONFIG = dict(
    SIZES, output_p=0.1, hidden_p=0.1, input_p=0.1, embed_p=0.0, weight_p=0.1, tie_weights=True, out_bias=True
)
CLAS_CONFIG = dict(SIZES, output_p=0.1, hidden_p=0.1, input_p=0.1, embed_p=0.0, weight_p=0.1)
BASE = dict(tok=BaseTokenizer(), n_workers=0, cache_dir=False, min_freq=1)


def _dls(words, is_lm=True):
    texts = [" ".join(words[(i + j) % len(words)] for j in range(12)) for i in range(40)]
    df = pd.DataFrame({"text": texts, "label": ["a", "b"] * 20, "is_valid": [i % 4 == 0 for i in range(40)]})
    kw = dict(is_lm=True) if is_lm else dict(label_col="label")
    return TextDataLoaders.from_df(df, text_col="text", valid_col="is_valid", bs=4, seq_len=8, **kw, **BASE)


WORDS = "alpha beta gamma delta epsilon zeta".split()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("LAMINA_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over `tmp_path/served`; yields (folder, base url, stop())."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    stopped = []

    def stop():
        if not stopped:
            httpd.shutdown()
            httpd.server_close()
            stopped.append(True)

    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", stop
    stop()


@pytest.fixture
def spec_registry(monkeypatch):
    """Registrations made in a test are forgotten after it."""
    monkeypatch.setattr(P, "PRETRAINED", dict(P.PRETRAINED))
    monkeypatch.setattr(P, "ARCH_PRETRAINED", {k: dict(v) for k, v in P.ARCH_PRETRAINED.items()})
    return P


def _states_equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_save_pretrained_then_load_by_file_name(tmp_path):
    dls = _dls(WORDS)
    learn = language_model_learner(dls, AWD_LSTM, config=LM_CONFIG, pretrained=False, path=tmp_path)
    path, digest = learn.save_pretrained("mine")
    assert path == tmp_path / "models" / "mine.pth" and digest == file_digest(path)
    state, vocab = load_lm_weights(path)
    assert vocab == text_vocab(dls) and _states_equal(state, learn.model.state_dict())
    again = language_model_learner(dls, AWD_LSTM, config=LM_CONFIG, pretrained_fnames="mine", path=tmp_path)
    assert _states_equal(again.model.state_dict(), learn.model.state_dict())
    assert [any(p.requires_grad for p in g) for g in again.opt.param_lists] == [False, False, True]  # frozen


def test_fastai_layout_weights_and_pickled_vocab(tmp_path):
    dls = _dls(WORDS)
    learn = language_model_learner(dls, AWD_LSTM, config=LM_CONFIG, pretrained=False, path=tmp_path)
    fastai_state = OrderedDict()
    for k, v in learn.model.state_dict().items():
        if k.endswith("module.weight_hh_l0"):
            fastai_state[k.replace("module.weight_hh_l0", "weight_hh_l0_raw")] = v.clone()
            fastai_state[k] = torch.zeros_like(v)  # fastai v1 also saved the dropped copy: the raw one wins
        else:
            fastai_state[k] = v.clone()
    models = tmp_path / "models"
    models.mkdir(exist_ok=True)
    torch.save(fastai_state, models / "fa.pth")
    (models / "fa_itos.pkl").write_bytes(pickle.dumps(text_vocab(dls)))
    converted = convert_fastai_weights(fastai_state)
    assert _states_equal(converted, learn.model.state_dict())
    again = language_model_learner(
        dls, AWD_LSTM, config=LM_CONFIG, pretrained_fnames=("fa", "fa_itos"), path=tmp_path
    )
    assert _states_equal(again.model.state_dict(), learn.model.state_dict())


def test_read_vocab_runs_no_pickled_code(tmp_path):
    good = tmp_path / "v.pkl"
    good.write_bytes(pickle.dumps(["xxunk", "the"]))
    assert read_vocab(good) == ["xxunk", "the"]
    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps(OrderedDict(a=1)))  # needs a class: refused before anything is built
    with pytest.raises(
        ValueError, match="not a pickled list of strings: refusing to load collections.OrderedDict"
    ):
        read_vocab(evil)
    (tmp_path / "v.json").write_text('["a", 1]')
    with pytest.raises(ValueError, match="does not hold a list of strings"):
        read_vocab(tmp_path / "v.json")


def test_match_embeds_keeps_known_rows_and_averages_new_ones():
    emb = torch.arange(12.0).reshape(4, 3)
    state = {"0.encoder.weight": emb, "1.decoder.weight": emb, "1.decoder.bias": torch.tensor([1.0, 2, 3, 4])}
    out = match_embeds(state, ["a", "b", "c", "d"], ["c", "new", "a"])
    assert out["0.encoder.weight"].tolist() == [[6, 7, 8], [4.5, 5.5, 6.5], [0, 1, 2]]
    assert out["1.decoder.weight"].tolist() == out["0.encoder.weight"].tolist()
    assert out["1.decoder.bias"].tolist() == [3, 2.5, 1]
    with pytest.raises(ValueError, match="4 rows but the vocabulary 2 tokens"):
        match_embeds(state, ["a", "b"], ["a"])


def test_pretrained_into_another_vocabulary(tmp_path):
    source = language_model_learner(_dls(WORDS), AWD_LSTM, config=LM_CONFIG, pretrained=False, path=tmp_path)
    source.save_pretrained("src")
    other_dls = _dls(["gamma", "alpha", "omega", "psi"])
    target = language_model_learner(
        other_dls, AWD_LSTM, config=LM_CONFIG, pretrained_fnames="src", path=tmp_path
    )
    old_vocab, new_vocab = text_vocab(source.dls), text_vocab(other_dls)
    old, new = source.model[0].encoder.weight, target.model[0].encoder.weight
    assert torch.equal(new[new_vocab.index("gamma")], old[old_vocab.index("gamma")])
    assert torch.allclose(new[new_vocab.index("omega")], old.mean(0))
    assert torch.equal(
        target.model[0].rnns[1].module.weight_ih_l0, source.model[0].rnns[1].module.weight_ih_l0
    )


def test_registered_weights_download_cache_and_verify(tmp_path, home, server, spec_registry):
    root, url, stop = server
    dls = _dls(WORDS)
    source = language_model_learner(dls, AWD_LSTM, config=LM_CONFIG, pretrained=False, path=tmp_path)
    _, digest = source.save_pretrained(root / "tiny_lm")
    register_pretrained(PretrainedWeights("tiny_lm", url=f"{url}/tiny_lm.pth", sha256=digest, sizes=SIZES))
    spec_registry.ARCH_PRETRAINED["AWD_LSTM"]["fwd"] = "tiny_lm"
    learn = language_model_learner(dls, AWD_LSTM, config=LM_CONFIG, path=tmp_path)  # pretrained=True
    cached = home / "models" / "tiny_lm.pth"
    assert cached.is_file() and file_digest(cached) == digest
    assert _states_equal(learn.model.state_dict(), source.model.state_dict())
    stop()  # offline from now on: the cache serves
    clas = text_classifier_learner(_dls(WORDS, is_lm=False), AWD_LSTM, config=CLAS_CONFIG, path=tmp_path)
    assert _states_equal(clas.model[0].module.state_dict(), source.model[0].state_dict())
    cached.write_bytes(cached.read_bytes()[:-10] + b"0123456789")  # damaged
    with pytest.raises(VerificationError, match="have sha256 .* expected .* delete it to download again"):
        pretrained_file("tiny_lm")
    cached.unlink()
    with pytest.raises(PretrainedUnavailableError) as info:
        language_model_learner(dls, AWD_LSTM, config=LM_CONFIG, path=tmp_path)
    message = str(info.value)
    assert (
        f"save it as {cached}" in message
        and f"{url}/tiny_lm.pth" in message
        and "pretrained=False" in message
    )


def test_download_with_a_wrong_digest_leaves_nothing(home, server, spec_registry):
    root, url, _ = server
    (root / "w.pth").write_bytes(b"not the expected bytes")
    register_pretrained(PretrainedWeights("w", url=f"{url}/w.pth", sha256="0" * 64))
    with pytest.raises(VerificationError, match="sha256"):
        pretrained_file("w")
    assert not (home / "models" / "w.pth").exists()


def test_unverified_download_warns_and_offline_message_without_url(home, server, spec_registry):
    root, url, _ = server
    (root / "u.pth").write_bytes(b"weights")
    register_pretrained(PretrainedWeights("u", url=f"{url}/u.pth"))
    with pytest.warns(UnverifiedDownloadWarning, match="without a known sha256"):
        assert pretrained_file("u").read_bytes() == b"weights"
    register_pretrained(PretrainedWeights("local_only"))
    with pytest.raises(
        PretrainedUnavailableError, match="no download address is known: put the file at .*local_only.pth"
    ):
        pretrained_file("local_only")
    with pytest.raises(PretrainedUnavailableError, match="downloading is off"):
        pretrained_file("wt103_fwd", download=False)
    with pytest.raises(KeyError, match="no pretrained weights named 'nope'"):
        pretrained_file("nope")


def test_config_that_does_not_fit_the_default_weights_is_refused_before_downloading(home):
    dls = _dls(WORDS)
    with pytest.raises(ValueError, match=r"'wt103_fwd' need .*'emb_sz': 400.* pretrained=False"):
        language_model_learner(dls, AWD_LSTM, config=LM_CONFIG)
    assert not (home / "models").exists()


def test_fastai_archive_from_a_local_server(tmp_path, home, server, spec_registry):
    root, url, _ = server
    dls = _dls(WORDS)
    source = language_model_learner(dls, AWD_LSTM, config=LM_CONFIG, pretrained=False, path=tmp_path)
    staged = tmp_path / "wt-fwd"
    staged.mkdir()
    state = OrderedDict(
        (k.replace("module.weight_hh_l0", "weight_hh_l0_raw"), v)
        for k, v in source.model.state_dict().items()
    )
    torch.save(state, staged / "lstm_fwd.pth")
    (staged / "itos_wt.pkl").write_bytes(pickle.dumps(text_vocab(dls)))
    with tarfile.open(root / "wt-fwd2.tgz", "w:gz") as tar:
        tar.add(staged, arcname="wt-fwd")
    digest = file_digest(root / "wt-fwd2.tgz")
    register_pretrained(
        PretrainedWeights("fa_wt", url=f"{url}/wt-fwd2.tgz", sha256=digest, fmt="fastai", sizes=SIZES)
    )
    spec_registry.ARCH_PRETRAINED["AWD_LSTM"]["fwd"] = "fa_wt"
    clas = text_classifier_learner(_dls(WORDS, is_lm=False), AWD_LSTM, config=CLAS_CONFIG, path=tmp_path)
    assert _states_equal(clas.model[0].module.state_dict(), source.model[0].state_dict())
    assert (home / "models" / "wt-fwd2").is_dir()
