"""The transformer encoder shared by the TR-SUM generator and summarizer.

Design choices (fixed, so checkpoints stay comparable):

* input projection: ``Linear(d_in, d_model)`` when ``d_in != d_model``, identity otherwise
  (the paper size, 1024 -> 1024, has none);
* positions, two parameter-free parts: a fixed sinusoidal absolute encoding (Vaswani et al.) of
  the position within the segment row, added after the projection (a non-persistent buffer, not
  in the state dict, so ``max_len`` can change between checkpoints), and an ALiBi locality bias
  (Press et al. 2022): head h adds ``-m_h * |i - j|`` to every attention logit, slopes
  ``m_h = 2^(-8(h+1)/H)``. Why: a masked step carries no content, only its position, and the
  best guess for it is its neighbours in the same shot. With absolute positions alone a small
  model needs thousands of steps to learn to look next door (measured on the stand-in: masked
  L1+cos 1.09 after 1000 steps vs 0.96 with ALiBi; video-mean predictor 1.16). For dilated
  segments the row position is still in temporal order;
* layers: ``nn.TransformerEncoderLayer``'s parameters (batch_first, GELU, post-norm
  ``norm_first=False`` as in the original Transformer/BERT, hence no final LayerNorm), run by
  :func:`post_norm_layer`: the same arithmetic as the layer's own forward (bit-identical outputs,
  gradients equal to float rounding; tested) with the attention called as
  ``F.scaled_dot_product_attention`` on (B, H, L, d_head)
  views and the additive float mask (ALiBi + padding + any caller bias) as (B, H, L, L). Why not
  the layer's forward: ``nn.MultiheadAttention`` transposes to (L, B, E) and back and wants the
  mask flattened to (B*H, L, L); on one CPU thread that cost ~10% of a layer's forward and backward
  at the quick size (``benchmarks/mfu.py``), and its fused inference path would read a float mask
  as a boolean one.

With post-norm and no final norm an encoder of n layers has exactly
``n * (4*d^2 + 4*d + 2*d*d_ff + d_ff + d + 4*d)`` parameters: 37,788,672 at d=1024, d_ff=4096, n=3.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


# The logit added for a pad key: finite, so no -inf enters an attention kernel (the bf16 kernels
# a GPU picks are where -inf masks have gone wrong; our TR-SUM run under bf16 on an H200 gave NaN),
# and far enough below any real logit (ALiBi reaches -0.5 x max_len) that exp() of it is 0 in
# float32 and bf16 alike: the weights are the ones -inf gives. Every row keeps a real key (checked).
PAD_BIAS = -1e4


def sinusoidal_positions(max_len: int, d_model: int) -> torch.Tensor:
    """(max_len, d_model) float32 table: sin on even channels, cos on odd ones."""
    position = torch.arange(max_len, dtype=torch.float32)[:, None]
    inv_freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * inv_freq)
    table[:, 1::2] = torch.cos(position * inv_freq[: d_model // 2])
    return table


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """(n_heads,) ALiBi slopes 2^(-8 (h+1) / n_heads)."""
    return torch.tensor([2.0 ** (-8.0 * (h + 1) / n_heads) for h in range(n_heads)])


def post_norm_layer(layer: nn.TransformerEncoderLayer, h: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """One post-norm encoder layer with ``layer``'s parameters and dropouts: h (B, L, E), bias
    (B, H, L, L) additive attention logits (or broadcastable to it) -> (B, L, E).

    norm1(h + dropout1(attention(h))), then norm2(h + dropout2(linear2(dropout(act(linear1(h)))))),
    the attention dropping weights with ``self_attn.dropout`` in training, as the layer does."""
    attn = layer.self_attn
    batch, length, width = h.shape
    heads = attn.num_heads
    qkv = F.linear(h, attn.in_proj_weight, attn.in_proj_bias).view(batch, length, 3, heads, width // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, H, L, d_head)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=attn.dropout if layer.training else 0.0)
    out = attn.out_proj(out.transpose(1, 2).reshape(batch, length, width))
    h = layer.norm1(h + layer.dropout1(out))
    return layer.norm2(h + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(h))))))


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class TransformerEncoder(nn.Module):
    """Project, add positions, run ``n_layers`` post-norm transformer layers.

    forward: x (B, L, d_in), key_padding_mask (B, L) bool True = pad (or None) -> (B, L, d_model).
    Outputs at pad positions are computed but meaningless; callers must ignore them.
    """

    def __init__(self, d_in: int, d_model: int, n_heads: int, n_layers: int, d_ff: int,
                 dropout: float = 0.1, max_len: int = 1024):
        super().__init__()
        d_in, d_model = _positive_int("d_in", d_in), _positive_int("d_model", d_model)
        n_heads, n_layers = _positive_int("n_heads", n_heads), _positive_int("n_layers", n_layers)
        d_ff = _positive_int("d_ff", d_ff)
        max_len = _positive_int("max_len", max_len)
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        if d_model % 2:
            raise ValueError(f"d_model={d_model} must be even for the sinusoidal positions")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
        self.d_in, self.d_model, self.max_len = d_in, d_model, max_len
        self.input_proj = nn.Linear(d_in, d_model) if d_in != d_model else nn.Identity()
        self.register_buffer("positions", sinusoidal_positions(max_len, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward=d_ff, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=False)
        # the container keeps the parameter names (layers.layers.<i>.*) of every checkpoint; its
        # forward is not used (post_norm_layer runs each layer)
        self.layers = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.n_heads = n_heads
        pos = torch.arange(max_len, dtype=torch.float32)
        distance = (pos[:, None] - pos[None, :]).abs()
        self.register_buffer("alibi", -alibi_slopes(n_heads)[:, None, None] * distance, persistent=False)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
                attn_bias: torch.Tensor | None = None) -> torch.Tensor:
        """attn_bias: optional extra additive logits broadcastable to (B, n_heads, L, L)."""
        if x.dim() != 3 or x.shape[-1] != self.d_in:
            raise ValueError(f"x must be (B, L, {self.d_in}), got {tuple(x.shape)}")
        return self.encode(self.input_proj(x), key_padding_mask, attn_bias)

    def encode(self, h: torch.Tensor, key_padding_mask: torch.Tensor | None = None,
               attn_bias: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder after its input projection: h (B, L, d_model) projected rows -> (B, L, d_model).

        For callers that build the projected rows themselves: the generator's RL episodes differ
        only in which rows are the [MASK] token, so it projects each segment once, not once per
        episode (the projection from 1024-d features costs as much as an encoder layer)."""
        if h.dim() != 3 or h.shape[-1] != self.d_model:
            raise ValueError(f"h must be (B, L, {self.d_model}), got {tuple(h.shape)}")
        B, L, _ = h.shape
        if L > self.max_len:
            raise ValueError(f"sequence length {L} exceeds max_len={self.max_len}")
        if key_padding_mask is not None:
            if key_padding_mask.shape != (B, L) or key_padding_mask.dtype != torch.bool:
                raise ValueError(f"key_padding_mask must be bool (B, L)=({B}, {L}), got "
                                 f"{key_padding_mask.dtype} {tuple(key_padding_mask.shape)}")
            # an all-pad row makes softmax over no keys -> NaN everywhere downstream
            if bool(key_padding_mask.all(dim=1).any()):
                raise ValueError("key_padding_mask has a row that is entirely padding")
        h = h + self.positions[:L]
        h = self.dropout(h)
        bias = self.alibi[:, :L, :L].unsqueeze(0).expand(B, self.n_heads, L, L)
        if attn_bias is not None:
            bias = bias + attn_bias
        if key_padding_mask is not None:
            bias = bias.masked_fill(key_padding_mask.view(B, 1, 1, L), PAD_BIAS)
        bias = bias.to(h.dtype)
        for layer in self.layers.layers:
            h = post_norm_layer(layer, h, bias)
        return h
