#!/usr/bin/env python3
"""Writes transformer encoders for the INT4 tests and benchmarks (synthetic weights, not a trained model).

  make_int4_models.py --out DIR [--shape tiny|minilm|bert] [--calib N] [--eval N]

DIR/<shape>.onnx: input_ids [1, S] int64 -> word + position embeddings -> LayerNorm -> L encoder layers
(Q/K/V/out projections, GELU FFN, post-LayerNorm) -> hidden states [1, S, H]. Shapes: tiny (H 64, 2 layers,
S 16: unit tests), minilm (MiniLM-L6: H 384, 12 heads, 6 layers, FFN 1536, S 128), bert (BERT-base: H 768,
12 heads, 12 layers, FFN 3072, S 128). A few LayerNorm gains are scaled up (outlier channels, as trained
transformers have) so that activation-aware rounding has something to find.
DIR/<shape>_calib/<i>/input_0.pb and DIR/<shape>_eval/<i>/input_0.pb: random token ids (TensorProto).
Does nothing when the outputs exist and are newer than this script.
"""
import argparse
import math
import os
import sys

SHAPES = {"tiny": (64, 4, 2, 256, 16), "minilm": (384, 12, 6, 1536, 128), "bert": (768, 12, 12, 3072, 128)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    ap.add_argument("--calib", type=int, default=8)
    ap.add_argument("--eval", type=int, default=4)
    args = ap.parse_args()
    path = os.path.join(args.out, args.shape + ".onnx")
    if os.path.exists(path) and os.path.getmtime(path) > os.path.getmtime(__file__):
        return 0
    try:
        import numpy as np
        import onnx
        import torch
        from onnx import numpy_helper
    except ImportError as e:
        print("make_int4_models.py: needs torch, onnx, numpy: %s" % e)
        return 0
    torch.manual_seed(0)
    nn = torch.nn
    hidden, heads, layers, inter, seq = SHAPES[args.shape]

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.q, self.k, self.v, self.o = (nn.Linear(hidden, hidden) for _ in range(4))
            self.ln1, self.ln2 = nn.LayerNorm(hidden), nn.LayerNorm(hidden)
            self.up, self.down = nn.Linear(hidden, inter), nn.Linear(inter, hidden)
            for ln in (self.ln1, self.ln2):
                with torch.no_grad():
                    ln.weight.mul_(1 + 0.2 * torch.randn(hidden)).abs_()
                    ln.weight[torch.randperm(hidden)[:4]] *= 8.0  # outlier channels

        def forward(self, x):
            b, s, d = x.shape
            sp = lambda t: t.view(b, s, heads, d // heads).permute(0, 2, 1, 3)
            q, k, v = sp(self.q(x)), sp(self.k(x)), sp(self.v(x))
            att = torch.softmax(torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d // heads), dim=-1)
            ctx = torch.matmul(att, v).permute(0, 2, 1, 3).reshape(b, s, d)
            x = self.ln1(x + self.o(ctx))
            return self.ln2(x + self.down(torch.nn.functional.gelu(self.up(x))))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.word, self.pos = nn.Embedding(1000, hidden), nn.Embedding(seq, hidden)
            self.ln = nn.LayerNorm(hidden)
            self.layers = nn.ModuleList([Layer() for _ in range(layers)])

        def forward(self, ids):
            x = self.ln(self.word(ids) + self.pos.weight[None, : ids.shape[1]])
            for l in self.layers:
                x = l(x)
            return x

    model = Encoder().eval()
    os.makedirs(args.out, exist_ok=True)
    ids = torch.randint(0, 1000, (1, seq))
    tmp = path + ".tmp"
    torch.onnx.export(model, (ids,), tmp, opset_version=17, input_names=["input_ids"], output_names=["hidden"],
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(tmp))
    rng = np.random.default_rng(1)
    for name, count in (("calib", args.calib), ("eval", args.eval)):
        for i in range(count):
            d = os.path.join(args.out, "%s_%s" % (args.shape, name), "%03d" % i)
            os.makedirs(d, exist_ok=True)
            t = numpy_helper.from_array(rng.integers(0, 1000, (1, seq)).astype(np.int64), "input_ids")
            with open(os.path.join(d, "input_0.pb"), "wb") as f:
                f.write(t.SerializeToString())
    os.replace(tmp, path)
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
