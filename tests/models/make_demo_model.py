#!/usr/bin/python3
"""Trains the demo model: a small CNN on scikit-learn's 8x8 handwritten digits, exported to ONNX.

    /usr/bin/python3 tests/models/make_demo_model.py --out build/demo

Writes to --out:
  digits_cnn.onnx            opset 13, input 'image' float32 [batch, 1, 8, 8], output 'logits' [batch, 10]
  samples/sample_NNN/        input_0.pb (one test image, batch 1, ONNX TensorProto) and
                             output_0.pb (PyTorch's float32 logits for it)
  labels.txt                 the true label of each sample, one per line, in sample order
  torch_predictions.txt      PyTorch's predicted class of each sample, one per line
  accuracy.txt               'test_accuracy A' (whole test split) and 'sample_accuracy A' (the samples)

Training is deterministic (fixed seeds, one thread) and takes a few seconds on a CPU. The script
does nothing when its outputs exist and are newer than itself (pass --force to redo them).
Needs Debian's python3-torch, python3-onnx, python3-numpy and python3-sklearn.
"""
import argparse
import os
import shutil
import sys

NUM_SAMPLES = 40
STAMP = ".done"


def up_to_date(out_dir):
    """True when a previous run finished after this script last changed."""
    stamp = os.path.join(out_dir, STAMP)
    needed = [stamp, os.path.join(out_dir, "digits_cnn.onnx"), os.path.join(out_dir, "labels.txt"),
              os.path.join(out_dir, "samples", "sample_000", "input_0.pb")]
    if not all(os.path.exists(p) for p in needed):
        return False
    return os.path.getmtime(stamp) >= os.path.getmtime(os.path.abspath(__file__))


def build_model(torch):
    nn = torch.nn

    class DigitsCNN(nn.Module):
        """Conv(1->8) Relu Conv(8->16) Relu MaxPool(2) Flatten Gemm(256->10) on 1x8x8 images."""

        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(),
                nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(),
                nn.MaxPool2d(2))
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(16 * 4 * 4, 10)

        def forward(self, x):
            return self.fc(self.flatten(self.features(x)))

    return DigitsCNN()


def train_digits_cnn(torch, np):
    """Trains build_model()'s CNN on scikit-learn's digits (stratified 75/25 split, Adam, 15 epochs, batch 32)
    with torch's global RNG as the caller seeded it; returns (model in eval mode, x_train, x_test, y_train,
    y_test), images as float32 [N, 1, 8, 8] in [0, 1]."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images.astype(np.float32) / 16.0)[:, None, :, :]  # [N, 1, 8, 8], values in [0, 1]
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)

    model = build_model(torch)
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
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    model.eval()
    return model, x_train, x_test, y_train, y_test


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    args = ap.parse_args()
    out_dir = args.out
    if not args.force and up_to_date(out_dir):
        print(f"{out_dir}: demo model up to date")
        with open(os.path.join(out_dir, "accuracy.txt")) as f:
            print(f.read().strip())
        return 0

    try:
        import numpy as np
        import onnx
        import torch
        from onnx import numpy_helper
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError as e:
        print(f"make_demo_model.py: missing dependency ({e}); apt-get install python3-torch python3-onnx "
              "python3-sklearn", file=sys.stderr)
        return 2

    torch.manual_seed(0)
    np.random.seed(0)
    torch.set_num_threads(1)  # bit-for-bit identical training on every machine with the same torch

    model, x_train, x_test, y_train, y_test = train_digits_cnn(torch, np)

    with torch.no_grad():
        logits_test = model(torch.from_numpy(x_test)).numpy()
    test_acc = float((logits_test.argmax(1) == y_test).mean())

    os.makedirs(out_dir, exist_ok=True)
    stamp = os.path.join(out_dir, STAMP)
    if os.path.exists(stamp):
        os.remove(stamp)
    model_path = os.path.join(out_dir, "digits_cnn.onnx")
    torch.onnx.export(model, torch.from_numpy(x_test[:1]), model_path, opset_version=13,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, do_constant_folding=True)
    onnx.checker.check_model(onnx.load(model_path))

    samples_dir = os.path.join(out_dir, "samples")
    shutil.rmtree(samples_dir, ignore_errors=True)
    preds = []
    for i in range(NUM_SAMPLES):
        d = os.path.join(samples_dir, f"sample_{i:03d}")
        os.makedirs(d)
        inp = numpy_helper.from_array(x_test[i:i + 1], name="image")
        with open(os.path.join(d, "input_0.pb"), "wb") as f:
            f.write(inp.SerializeToString())
        out = numpy_helper.from_array(logits_test[i:i + 1].astype(np.float32), name="logits")
        with open(os.path.join(d, "output_0.pb"), "wb") as f:
            f.write(out.SerializeToString())
        preds.append(int(logits_test[i].argmax()))
    sample_acc = float(np.mean(np.array(preds) == y_test[:NUM_SAMPLES]))
    with open(os.path.join(out_dir, "labels.txt"), "w") as f:
        f.writelines(f"{int(v)}\n" for v in y_test[:NUM_SAMPLES])
    with open(os.path.join(out_dir, "torch_predictions.txt"), "w") as f:
        f.writelines(f"{p}\n" for p in preds)
    with open(os.path.join(out_dir, "accuracy.txt"), "w") as f:
        f.write(f"test_accuracy {test_acc:.6f}\nsample_accuracy {sample_acc:.6f}\n")
    with open(stamp, "w") as f:
        f.write("ok\n")

    print(f"wrote {model_path} and {NUM_SAMPLES} samples")
    print(f"PyTorch FP32 test accuracy: {test_acc:.4f} ({len(y_test)} images); on the {NUM_SAMPLES} samples: {sample_acc:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
