#!/usr/bin/python3
"""Exports the standard models of the joule-vs-ONNX Runtime benchmark (bench/compare_ort.sh), random weights.

    /usr/bin/python3 bench/models/export_models.py --out build-bench/models [--only NAME ...] [--force]

Models (batch 1, opset 17, PyTorch eval mode, fixed seeds; weights random, so only speed is meaningful):
  resnet50      ResNet-50 v1.5 (stride on the 3x3), 224x224, 1000 classes
  mobilenetv2   MobileNetV2 1.0, 224x224, 1000 classes
  bert_base     BERT-base-shaped encoder: 12 layers, hidden 768, 12 heads, FFN 3072, sequence 128
  minilm_l6     MiniLM-L6-shaped encoder: 6 layers, hidden 384, 12 heads, FFN 1536, sequence 128
Each NAME/ holds model.onnx and sample/input_K.pb (one input sample, ONNX TensorProto, named after the
graph inputs), the layout `joule run --inputs` and bench/peer/ort_run.js read. Models are large (BERT-base
is ~440 MB): write them to a build folder, never commit them.
"""
import argparse
import math
import os
import sys
import time

NAMES = ["resnet50", "mobilenetv2", "bert_base", "minilm_l6"]


def define(torch):
    nn, F = torch.nn, torch.nn.functional

    def conv_bn_act(cin, cout, k, stride=1, groups=1, act=nn.ReLU):
        mods = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        return nn.Sequential(*(mods + ([act()] if act else [])))

    class Bottleneck(nn.Module):
        def __init__(self, cin, mid, stride):
            super().__init__()
            self.main = nn.Sequential(conv_bn_act(cin, mid, 1), conv_bn_act(mid, mid, 3, stride),
                                      conv_bn_act(mid, mid * 4, 1, act=None))
            self.skip = conv_bn_act(cin, mid * 4, 1, stride, act=None) if stride != 1 or cin != mid * 4 else None

        def forward(self, x):
            return F.relu(self.main(x) + (x if self.skip is None else self.skip(x)))

    class ResNet50(nn.Module):
        def __init__(self):
            super().__init__()
            blocks, cin = [conv_bn_act(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1)], 64
            for stage, (mid, count) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
                for i in range(count):
                    blocks.append(Bottleneck(cin, mid, 2 if i == 0 and stage > 0 else 1))
                    cin = mid * 4
            self.features = nn.Sequential(*blocks)
            self.fc = nn.Linear(cin, 1000)

        def forward(self, x):
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))

    class InvertedResidual(nn.Module):
        def __init__(self, cin, cout, stride, expand):
            super().__init__()
            hidden = cin * expand
            mods = [conv_bn_act(cin, hidden, 1, act=nn.ReLU6)] if expand != 1 else []
            mods += [conv_bn_act(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                     conv_bn_act(hidden, cout, 1, act=None)]
            self.body = nn.Sequential(*mods)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            return x + self.body(x) if self.residual else self.body(x)

    class MobileNetV2(nn.Module):
        def __init__(self):
            super().__init__()
            mods, cin = [conv_bn_act(3, 32, 3, 2, act=nn.ReLU6)], 32
            for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                               (6, 160, 3, 2), (6, 320, 1, 1)]:
                for i in range(n):
                    mods.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                    cin = c
            mods.append(conv_bn_act(cin, 1280, 1, act=nn.ReLU6))
            self.features = nn.Sequential(*mods)
            self.fc = nn.Linear(1280, 1000)

        def forward(self, x):
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))

    class EncoderLayer(nn.Module):
        """Post-LN BERT layer: self-attention, residual + LayerNorm, GELU FFN, residual + LayerNorm."""

        def __init__(self, hidden, heads, ffn):
            super().__init__()
            self.heads, self.dh = heads, hidden // heads
            self.qkv = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(3)])
            self.proj = nn.Linear(hidden, hidden)
            self.ln_attn, self.ln_ffn = nn.LayerNorm(hidden, eps=1e-12), nn.LayerNorm(hidden, eps=1e-12)
            self.up, self.down = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)

        def forward(self, x, mask_bias):
            b, s, h = x.shape
            q, k, v = (m(x).view(b, s, self.heads, self.dh).transpose(1, 2) for m in self.qkv)
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dh) + mask_bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(b, s, h)
            x = self.ln_attn(x + self.proj(ctx))
            return self.ln_ffn(x + self.down(F.gelu(self.up(x))))

    class Encoder(nn.Module):
        def __init__(self, layers, hidden, heads, ffn, vocab=30522, max_pos=512):
            super().__init__()
            self.tok, self.pos, self.seg = nn.Embedding(vocab, hidden), nn.Embedding(max_pos, hidden), nn.Embedding(2, hidden)
            self.ln = nn.LayerNorm(hidden, eps=1e-12)
            self.layers = nn.ModuleList([EncoderLayer(hidden, heads, ffn) for _ in range(layers)])
            self.pool = nn.Linear(hidden, hidden)

        def forward(self, input_ids, attention_mask):
            pos = torch.arange(input_ids.shape[1]).unsqueeze(0)
            x = self.ln(self.tok(input_ids) + self.pos(pos) + self.seg(torch.zeros_like(input_ids)))
            mask_bias = (1.0 - attention_mask[:, None, None, :].float()) * -10000.0
            for layer in self.layers:
                x = layer(x, mask_bias)
            return x, torch.tanh(self.pool(x[:, 0]))

    def image(rs):
        return [("image", rs.standard_normal((1, 3, 224, 224)).astype("float32"))]

    def tokens(rs):
        ids = rs.randint(0, 30522, size=(1, 128)).astype("int64")
        mask = (rs.random_sample((1, 128)) < 0.9).astype("int64")
        mask[0, 0] = 1
        return [("input_ids", ids), ("attention_mask", mask)]

    enc_out = ["last_hidden_state", "pooler_output"]
    return {  # name -> (builder, inputs(rs), output names)
        "resnet50": (ResNet50, image, ["logits"]),
        "mobilenetv2": (MobileNetV2, image, ["logits"]),
        "bert_base": (lambda: Encoder(12, 768, 12, 3072), tokens, enc_out),
        "minilm_l6": (lambda: Encoder(6, 384, 12, 1536), tokens, enc_out),
    }


def export(name, spec, out, seed, torch, onnx, numpy_helper, np):
    builder, make_inputs, output_names = spec
    t0 = time.time()
    torch.manual_seed(seed)
    model = builder().eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding does real work
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    inputs = make_inputs(np.random.RandomState(seed))
    folder = os.path.join(out, name)
    os.makedirs(os.path.join(folder, "sample"), exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    args = tuple(torch.from_numpy(a) for _, a in inputs)
    torch.onnx.export(model, args, path, opset_version=17, input_names=[n for n, _ in inputs],
                      output_names=output_names, do_constant_folding=True)
    onnx.checker.check_model(path)
    for i, (n, a) in enumerate(inputs):
        with open(os.path.join(folder, "sample", f"input_{i}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, name=n).SerializeToString())
    params = sum(p.numel() for p in model.parameters())
    with open(os.path.join(folder, ".done"), "w") as f:
        f.write(f"params {params}\n")
    print(f"{name:12s} {params / 1e6:7.2f} M params  {os.path.getsize(path) / 2**20:7.1f} MiB  {time.time() - t0:5.1f} s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder (a build folder; the models are large)")
    ap.add_argument("--only", nargs="*", default=None, help=f"model names, of {NAMES}")
    ap.add_argument("--force", action="store_true", help="re-export models that already exist")
    args = ap.parse_args()
    names = args.only or NAMES
    if any(n not in NAMES for n in names):
        print(f"export_models.py: unknown model in {names}; known: {NAMES}", file=sys.stderr)
        return 2
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    torch.set_num_threads(1)
    specs = define(torch)
    for name in names:
        if not args.force and os.path.exists(os.path.join(args.out, name, ".done")):
            print(f"{name:12s} up to date")
            continue
        export(name, specs[name], args.out, 2026 + NAMES.index(name), torch, onnx, numpy_helper, np)
    return 0


if __name__ == "__main__":
    sys.exit(main())
