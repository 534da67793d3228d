#!/usr/bin/python3
"""Exports the recurrent test models (issue 9): small stateful audio models with the recurrent state as
explicit inputs and outputs, so a caller can stream them chunk by chunk.

    /usr/bin/python3 tests/models/make_rnn_models.py --out build/rnn_models [--force]

Models (random weights, fixed seeds, eval mode, opset 14):
  lstm_classifier  frames [1, T, 40] (40 mel features, T symbolic), h0/c0 [2, 1, 64] -> per-frame logits
                   [1, T, 10], hn, cn. 2-layer LSTM, hidden 64. Streaming it over chunks of frames is
                   mathematically the same as running the whole sequence.
  gru_classifier   frames [1, T, 40], h0 [1, 1, 64] -> per-frame logits [1, T, 10], hn. GRU, hidden 64
                   (PyTorch exports linear_before_reset=1).
  kws_stream       audio [1, 1, 512] (one 32 ms chunk at 16 kHz), h0/c0 [2, 1, 176] -> logits [1, 12], hn, cn.
                   Conv1d front end (64 filters of 32 taps, stride 16; 128 of 5, stride 2) + 2-layer LSTM
                   (hidden 176) + linear on the last frame: about 510k parameters.

For each NAME it writes, in the ONNX backend-test layout:
  NAME/model.onnx
  NAME/test_data_set_0/input_K.pb, output_K.pb (PyTorch float32), output_K_f64.pb (float64 run of the same weights)
and OUT/manifest.txt. A model is rebuilt only when its folder is older than this script (or with --force).
When torch or onnx cannot be imported it writes OUT/unavailable.txt with the reason and exits 0.
"""
import argparse
import os
import sys

HERE = os.path.abspath(__file__)


def build(torch, np, name):
    nn = torch.nn
    torch.manual_seed({"lstm_classifier": 1, "gru_classifier": 2, "kws_stream": 3}[name])

    class LstmClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(40, 64, num_layers=2, batch_first=True)
            self.fc = nn.Linear(64, 10)

        def forward(self, x, h0, c0):
            y, (h, c) = self.rnn(x, (h0, c0))
            return self.fc(y), h, c

    class GruClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(40, 64, batch_first=True)
            self.fc = nn.Linear(64, 10)

        def forward(self, x, h0):
            y, h = self.rnn(x, h0)
            return self.fc(y), h

    class KwsStream(nn.Module):
        def __init__(self):
            super().__init__()
            self.front = nn.Sequential(nn.Conv1d(1, 64, 32, stride=16), nn.ReLU(),
                                       nn.Conv1d(64, 128, 5, stride=2), nn.ReLU())
            self.rnn = nn.LSTM(128, 176, num_layers=2, batch_first=True)
            self.fc = nn.Linear(176, 12)

        def forward(self, audio, h0, c0):
            f = self.front(audio).transpose(1, 2)  # [1, frames, 128]
            y, (h, c) = self.rnn(f, (h0, c0))
            return self.fc(y[:, -1]), h, c

    g = torch.Generator().manual_seed(7)
    if name == "lstm_classifier":
        m = LstmClassifier()
        inputs = (torch.randn(1, 200, 40, generator=g), 0.5 * torch.randn(2, 1, 64, generator=g),
                  0.5 * torch.randn(2, 1, 64, generator=g))
        names, outs, dyn = ["frames", "h0", "c0"], ["logits", "hn", "cn"], {"frames": {1: "T"}, "logits": {1: "T"}}
    elif name == "gru_classifier":
        m = GruClassifier()
        inputs = (torch.randn(1, 100, 40, generator=g), 0.5 * torch.randn(1, 1, 64, generator=g))
        names, outs, dyn = ["frames", "h0"], ["logits", "hn"], {"frames": {1: "T"}, "logits": {1: "T"}}
    else:
        m = KwsStream()
        inputs = (0.3 * torch.randn(1, 1, 512, generator=g), 0.5 * torch.randn(2, 1, 176, generator=g),
                  0.5 * torch.randn(2, 1, 176, generator=g))
        names, outs, dyn = ["audio", "h0", "c0"], ["logits", "hn", "cn"], None
    return m.eval(), inputs, names, outs, dyn


def export(torch, np, onnx, numpy_helper, name, out_dir):
    import copy
    m, inputs, names, outs, dyn = build(torch, np, name)
    d = os.path.join(out_dir, name)
    ds = os.path.join(d, "test_data_set_0")
    os.makedirs(ds, exist_ok=True)
    path = os.path.join(d, "model.onnx")
    with torch.no_grad():
        torch.onnx.export(m, inputs, path, input_names=names, output_names=outs, dynamic_axes=dyn, opset_version=14)
        ref32 = m(*inputs)
        ref64 = copy.deepcopy(m).double()(*[x.double() for x in inputs])
    onnx.checker.check_model(onnx.load(path))

    def save(t, fname, tname):
        p = numpy_helper.from_array(t.detach().numpy(), tname)
        with open(os.path.join(ds, fname), "wb") as f:
            f.write(p.SerializeToString())

    for k, (x, n) in enumerate(zip(inputs, names)):
        save(x, "input_%d.pb" % k, n)
    for k, (y, y64, n) in enumerate(zip(ref32, ref64, outs)):
        save(y, "output_%d.pb" % k, n)
        save(y64, "output_%d_f64.pb" % k, n)
    params = sum(p.numel() for p in m.parameters())
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    with open(os.path.join(d, "info.txt"), "w") as f:
        f.write("opset 14\nparameters %d\nops %s\n" % (params, " ".join(ops)))
    print("%s: %d parameters, ops %s" % (name, params, " ".join(ops)))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--force", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    try:
        import numpy as np
        import onnx
        import torch
        from onnx import numpy_helper
    except Exception as e:  # noqa: BLE001 - any import failure means "skip"
        with open(os.path.join(a.out, "unavailable.txt"), "w") as f:
            f.write("python3-torch / python3-onnx not importable: %s\n" % e)
        print("skipping: %s" % e)
        return 0
    unavailable = os.path.join(a.out, "unavailable.txt")
    if os.path.exists(unavailable):
        os.remove(unavailable)
    torch.set_num_threads(1)
    models = ["lstm_classifier", "gru_classifier", "kws_stream"]
    for name in models:
        marker = os.path.join(a.out, name, "test_data_set_0", "output_0_f64.pb")
        if not a.force and os.path.exists(marker) and os.path.getmtime(marker) > os.path.getmtime(HERE):
            continue
        export(torch, np, onnx, numpy_helper, name, a.out)
    with open(os.path.join(a.out, "manifest.txt"), "w") as f:
        f.write("".join("%s 14\n" % n for n in models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
