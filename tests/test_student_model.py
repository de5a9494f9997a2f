"""Model shape, parameter/FLOP counts and the Hugging Face export."""

import json

import pytest
import torch

from pipeline.student.export import export_hf, load_hf_dir
from pipeline.student.model import LADDER, ModelConfig, Transformer, flops_per_token, non_embedding_params, total_params
from pipeline.student.tokenizer import train_tokenizer

torch.set_num_threads(1)


def test_param_counts_match_the_module():
    cfg = LADDER["t0"].with_vocab(320)
    m = Transformer(cfg)
    n_all = sum(p.numel() for p in m.parameters())
    assert total_params(cfg) == n_all
    assert non_embedding_params(cfg) == n_all - m.embed_tokens.weight.numel()
    assert 0.05e6 < non_embedding_params(LADDER["t0"]) < 0.2e6
    assert 0.7e9 < non_embedding_params(LADDER["t9"]) < 1.3e9
    assert 80e6 < non_embedding_params(LADDER["gpt2-small"]) < 90e6  # GPT-2 small: 85M non-embedding
    assert 120e6 < total_params(LADDER["gpt2-small"]) < 130e6
    sizes = [non_embedding_params(c) for c in LADDER.values()]
    assert sizes[0] == min(sizes)


def test_flops_per_token_formula():
    cfg = ModelConfig(n_layer=2, n_head=2, d_model=8, d_ff=16, vocab_size=10)
    n = 2 * (4 * 64 + 3 * 8 * 16 + 16) + 8
    assert non_embedding_params(cfg) == n
    assert flops_per_token(cfg, 32) == 6 * (n + 80) + 12 * 2 * 2 * 4 * 32


def test_causal_and_bad_shapes():
    torch.manual_seed(0)
    m = Transformer(LADDER["t0"].with_vocab(64)).eval()
    x = torch.randint(0, 64, (1, 12))
    y = x.clone()
    y[0, 8:] = (y[0, 8:] + 1) % 64
    with torch.no_grad():
        a, b = m(x), m(y)
    assert torch.allclose(a[0, :8], b[0, :8]) and not torch.allclose(a[0, 8:], b[0, 8:])
    with pytest.raises(ValueError, match="max_seq_len"):
        m(torch.zeros(1, m.cfg.max_seq_len + 1, dtype=torch.long))
    with pytest.raises(ValueError, match="divisible"):
        ModelConfig(n_layer=1, n_head=3, d_model=8, d_ff=8)


def test_export_logits_match_transformers(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"text": f"line {i} of text"}) + "\n" for i in range(50)))
    run = tmp_path / "run"
    train_tokenizer([str(tmp_path / "a.jsonl")], run / "tokenizer", vocab_size=280)
    cfg = ModelConfig(n_layer=2, n_head=4, d_model=32, d_ff=64, vocab_size=320, max_seq_len=64, norm_eps=1e-6,
                      rope_theta=500.0)
    torch.manual_seed(1)
    mine = Transformer(cfg)
    with torch.no_grad():  # make norms non-trivial so a wrong eps/weight layout would show
        for name, p in mine.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    torch.save({"model": mine.state_dict(), "model_config": cfg.to_dict()}, run / "ckpt.pt")
    out = export_hf(run, tmp_path / "hf")
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    assert type(hf).__name__ == "LlamaForCausalLM" and hf.config.tie_word_embeddings
    assert AutoTokenizer.from_pretrained(out).eos_token == "<|endoftext|>"
    x = torch.randint(0, 320, (3, 64))
    with torch.no_grad():
        ref = hf(x).logits
        got = mine.eval()(x)
        back = load_hf_dir(out)(x)
    assert torch.allclose(got, ref, atol=1e-4), (got - ref).abs().max()
    assert torch.equal(back, got)
