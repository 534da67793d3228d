#!/usr/bin/python3
"""Exports the models the pruning tests and benchmarks use.

    /usr/bin/python3 tests/models/make_prune_models.py --out build/prune_models [--size 64]

Writes to --out:
  resnet_mini/model.onnx     a ResNet-style CNN with residual Adds and projection shortcuts
                             (stem 3->32, stages 32/64/128 with 2 BasicBlocks each, GAP, Linear 10),
                             input 'image' [batch, 3, S, S] (S = --size), output 'logits' [batch, 10];
                             BatchNorm has random statistics (folded into the Convs by the export)
  resnet_mini/samples/sample_NNN/input_0.pb   8 random calibration images (batch 1)
  digits/model.onnx          the demo's digits CNN (tests/models/make_demo_model.py's architecture and
                             training recipe) trained on sklearn digits
  digits/calib/sample_NNN/   200 training images (calibration for pruning), digits/calib_labels.txt
  digits/test/sample_NNN/    the 450 held-out test images, digits/test_labels.txt
  digits/accuracy.txt        'test_accuracy A' of the PyTorch model
  bert_tiny/model.onnx       a BERT-shaped encoder (2 layers, hidden 64, 4 heads of 16, FFN 256, erf GELU),
                             inputs 'embeddings' [batch, seq, 64] float and 'attention_mask' [batch, seq]
                             int64, output 'last_hidden_state' [batch, seq, 64]; exported by torch with
                             symbolic batch/seq, so its head split/merge Reshapes get their shapes from
                             Shape->Gather->Unsqueeze->Concat chains
  bert_tiny/samples/sample_NNN/   8 samples of seq 17 (the last 3 tokens of odd samples masked)
  resnet_bn/model.onnx       a small CNN whose BatchNorms follow a ReLU (Conv->ReLU->BN), so the export
                             cannot fold them: the BatchNorm re-estimation fixture ([batch, 3, 32, 32])
  resnet_bn/samples/sample_NNN/   8 random images

With --bert-base (benchmark only, not run by ctest) it writes just bert_base/ instead: 12 layers,
hidden 768, 12 heads, FFN 3072, seq 128, 4 samples.

Random weights are enough here: the tests check the structure (coupled residual channels, MACs,
valid ONNX) and the fidelity of reconstruction, not accuracy. The script does nothing when its
outputs exist and are newer than itself (pass --force to redo them).
Needs Debian's python3-torch, python3-onnx and python3-numpy.
"""
import argparse
import os
import shutil

STAMP = ".done"
NUM_SAMPLES = 8


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=64, help="input image side")
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--bert-base", action="store_true", help="write only the BERT-base-shaped benchmark encoder")
    args = ap.parse_args()
    if args.bert_base:
        import numpy as np
        import onnx
        import torch
        from onnx import numpy_helper
        make_bert(args.out, "bert_base", np, onnx, torch, numpy_helper, layers=12, hidden=768, heads=12,
                  inter=3072, seq=128, samples=4)
        return
    folder = os.path.join(args.out, "resnet_mini")
    stamp = os.path.join(folder, STAMP)
    if (not args.force and os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(__file__)
            and os.path.exists(os.path.join(folder, "model.onnx"))):
        print("prune models up to date in", folder)
        return

    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    nn = torch.nn
    torch.manual_seed(0)
    torch.set_num_threads(1)

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout)
            self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.short = None
            if stride != 1 or cin != cout:
                self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = self.b2(self.c2(y))
            return torch.relu(y + (x if self.short is None else self.short(x)))

    class ResNetMini(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
            layers, cin = [], 32
            for cout, stride in [(32, 1), (64, 2), (128, 2)]:
                layers += [Block(cin, cout, stride), Block(cout, cout, 1)]
                cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(128, 10)

        def forward(self, x):
            x = self.layers(self.stem(x))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    model = ResNetMini()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
    model.eval()
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    path = os.path.join(folder, "model.onnx")
    x = torch.randn(1, 3, args.size, args.size)
    torch.onnx.export(model, (x,), path, opset_version=13, input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    rs = np.random.RandomState(2)
    for i in range(NUM_SAMPLES):
        d = os.path.join(folder, "samples", f"sample_{i:03d}")
        os.makedirs(d)
        a = rs.randn(1, 3, args.size, args.size).astype(np.float32)
        with open(os.path.join(d, "input_0.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, name="image").SerializeToString())
    make_digits(args.out, np, onnx, torch, numpy_helper)
    make_bert(args.out, "bert_tiny", np, onnx, torch, numpy_helper, layers=2, hidden=64, heads=4, inter=256,
              seq=17, samples=NUM_SAMPLES)
    make_bn_cnn(args.out, np, onnx, torch, numpy_helper, args.size // 2)
    with open(stamp, "w") as f:
        f.write("ok\n")
    print("wrote", path)


def make_digits(out, np, onnx, torch, numpy_helper):
    """The demo digits CNN, with a held-out test split saved as sample folders."""
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_demo_model
    torch.manual_seed(0)
    model, x_train, x_test, y_train, y_test = make_demo_model.train_digits_cnn(torch, np)
    with torch.no_grad():
        acc = float((model(torch.from_numpy(x_test)).numpy().argmax(1) == y_test).mean())
    folder = os.path.join(out, "digits")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    path = os.path.join(folder, "model.onnx")
    torch.onnx.export(model, torch.from_numpy(x_test[:1]), path, opset_version=13, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    for split, xs, ys in [("calib", x_train[:200], y_train[:200]), ("test", x_test, y_test)]:
        for i in range(len(xs)):
            d = os.path.join(folder, split, f"sample_{i:03d}")
            os.makedirs(d)
            with open(os.path.join(d, "input_0.pb"), "wb") as f:
                f.write(numpy_helper.from_array(xs[i:i + 1], name="image").SerializeToString())
        with open(os.path.join(folder, f"{split}_labels.txt"), "w") as f:
            f.writelines(f"{int(v)}\n" for v in ys)
    with open(os.path.join(folder, "accuracy.txt"), "w") as f:
        f.write(f"test_accuracy {acc:.6f}\n")
    print("wrote", path, "test accuracy", acc)


def write_sample(folder, i, arrays, numpy_helper):
    d = os.path.join(folder, "samples", f"sample_{i:03d}")
    os.makedirs(d)
    for k, (name, a) in enumerate(arrays):
        with open(os.path.join(d, f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, name=name).SerializeToString())


def make_bert(out, name, np, onnx, torch, numpy_helper, layers, hidden, heads, inter, seq, samples):
    """A BERT-shaped encoder (random weights) exported with symbolic batch and sequence dims."""
    import math
    nn = torch.nn
    torch.manual_seed(3)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads, self.head_dim = heads, hidden // heads
            self.q, self.k, self.v = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
            self.out = nn.Linear(hidden, hidden)

        def split(self, x):
            b, s = x.size(0), x.size(1)
            return x.view(b, s, self.heads, self.head_dim).transpose(1, 2)

        def forward(self, x, mask_bias):
            q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
            p = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.head_dim) + mask_bias, dim=-1)
            ctx = (p @ v).transpose(1, 2)
            return self.out(ctx.reshape(x.size(0), x.size(1), self.heads * self.head_dim))

    class Layer(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn, self.ln1 = Attention(), nn.LayerNorm(hidden, eps=1e-12)
            self.ffn = nn.Sequential(nn.Linear(hidden, inter), nn.GELU(), nn.Linear(inter, hidden))
            self.ln2 = nn.LayerNorm(hidden, eps=1e-12)

        def forward(self, x, mask_bias):
            x = self.ln1(x + self.attn(x, mask_bias))
            return self.ln2(x + self.ffn(x))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([Layer() for _ in range(layers)])

        def forward(self, embeddings, attention_mask):
            mask_bias = (1.0 - attention_mask[:, None, None, :].to(embeddings.dtype)) * -10000.0
            x = embeddings
            for layer in self.layers:
                x = layer(x, mask_bias)
            return x

    model = Encoder().eval()
    folder = os.path.join(out, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    path = os.path.join(folder, "model.onnx")
    rs = np.random.RandomState(4)
    x = rs.randn(1, seq, hidden).astype(np.float32)
    m = np.ones((1, seq), np.int64)
    axes = {0: "batch", 1: "seq"}
    torch.onnx.export(model, (torch.from_numpy(x), torch.from_numpy(m)), path, opset_version=13,
                      input_names=["embeddings", "attention_mask"], output_names=["last_hidden_state"],
                      dynamic_axes={"embeddings": axes, "attention_mask": axes, "last_hidden_state": axes},
                      do_constant_folding=True)
    onnx.checker.check_model(onnx.load(path))
    for i in range(samples):
        mask = np.ones((1, seq), np.int64)
        if i % 2:
            mask[0, -3:] = 0
        write_sample(folder, i, [("embeddings", rs.randn(1, seq, hidden).astype(np.float32)),
                                 ("attention_mask", mask)], numpy_helper)
    print("wrote", path)


def make_bn_cnn(out, np, onnx, torch, numpy_helper, size):
    """Conv->ReLU->BatchNorm blocks: the export keeps the BatchNorms (nothing to fold them into)."""
    nn = torch.nn
    torch.manual_seed(5)
    layers, cin = [], 3
    for cout, stride in [(16, 1), (32, 2), (32, 1), (64, 2)]:
        layers += [nn.Conv2d(cin, cout, 3, stride, 1), nn.ReLU(), nn.BatchNorm2d(cout)]
        cin = cout
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 10))
    g = torch.Generator().manual_seed(6)
    rs = np.random.RandomState(7)
    xs = [rs.randn(1, 3, size, size).astype(np.float32) for _ in range(NUM_SAMPLES)]
    with torch.no_grad():
        # Running statistics from the samples themselves (as training would leave them), gamma/beta random.
        model.train()
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = None
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
        model(torch.from_numpy(np.concatenate(xs)))
    model.eval()
    folder = os.path.join(out, "resnet_bn")
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    path = os.path.join(folder, "model.onnx")
    torch.onnx.export(model, (torch.from_numpy(xs[0]),), path, opset_version=13, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    assert any(n.op_type == "BatchNormalization" for n in proto.graph.node), "the export folded the BatchNorms"
    for i, a in enumerate(xs):
        write_sample(folder, i, [("image", a)], numpy_helper)
    print("wrote", path)


if __name__ == "__main__":
    main()
