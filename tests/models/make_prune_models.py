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
    args = ap.parse_args()
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
    with open(stamp, "w") as f:
        f.write("ok\n")
    print("wrote", path)


def make_digits(out, np, onnx, torch, numpy_helper):
    """The demo digits CNN, with a held-out test split saved as sample folders."""
    import sys
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_demo_model
    torch.manual_seed(0)
    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    model = make_demo_model.build_model(torch)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x_train), torch.from_numpy(y_train)
    gen = torch.Generator().manual_seed(0)
    model.train()
    for _epoch in range(15):
        perm = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), 32):
            idx = perm[i:i + 32]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
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


if __name__ == "__main__":
    main()
