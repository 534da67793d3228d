#!/usr/bin/python3
"""Exports the end-to-end test models: standard architectures with random weights, made small enough for
CI on two cores with reference kernels, and their reference outputs from PyTorch.

    /usr/bin/python3 tests/models/make_e2e_models.py --out build/e2e_models [--only NAME ...] [--force]

For each model NAME it writes, in the ONNX backend-test layout:
  NAME/model.onnx
  NAME/test_data_set_0/input_K.pb        inputs (named after the graph inputs)
  NAME/test_data_set_0/output_K.pb       PyTorch float32 outputs (same dtype as the model's outputs)
  NAME/test_data_set_0/output_K_f64.pb   PyTorch float64 outputs: the same weights run in double (model.double())
  NAME/test_data_set_1/...               (models with symbolic dims) the same for other values of those dims
  NAME/info.txt                          opset, parameter count, op types used
and OUT/manifest.txt with one line per model: 'NAME opset'.

The float64 outputs are the oracle: the float32 weights are exactly representable in double, so they show
the exact result up to float64 rounding, and a float32 runtime should land within float32 error of them.

Weights are random with fixed seeds (BatchNorm statistics randomised too, so folding is exercised), the
models are exported in eval mode. Opsets 11, 13 and 17 are spread across the models. Each model is only
rebuilt when its folder is older than this script (or with --force). When torch or onnx cannot be
imported the script writes OUT/unavailable.txt with the reason and exits 0, so tests can skip cleanly.
"""
import argparse
import copy
import math
import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def import_deps():
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    return np, onnx, torch, numpy_helper


# ------------------------------------------------------------------------------------------------------
# Model definitions (all in one place; built lazily so the script can start without torch).
# ------------------------------------------------------------------------------------------------------
def define_models(torch, np):
    nn = torch.nn
    F = torch.nn.functional

    def randomize_bn(model, gen):
        """Non-trivial BatchNorm statistics and affine parameters (the defaults make BN the identity)."""
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.data.copy_(torch.randn(c, generator=gen) * 0.1)

    def conv_bn(cin, cout, k, s=1, groups=1, act=nn.ReLU):
        layers = [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(act())
        return nn.Sequential(*layers)

    # ---- ResNet ---------------------------------------------------------------------------------------
    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, cin, planes, stride):
            super().__init__()
            self.conv1 = conv_bn(cin, planes, 3, stride)
            self.conv2 = conv_bn(planes, planes, 3, 1, act=None)
            self.down = None
            if stride != 1 or cin != planes:
                self.down = conv_bn(cin, planes, 1, stride, act=None)

        def forward(self, x):
            identity = x if self.down is None else self.down(x)
            return F.relu(self.conv2(self.conv1(x)) + identity)

    class Bottleneck(nn.Module):
        expansion = 4

        def __init__(self, cin, planes, stride):
            super().__init__()
            out = planes * 4
            self.body = nn.Sequential(conv_bn(cin, planes, 1), conv_bn(planes, planes, 3, stride),
                                      conv_bn(planes, out, 1, act=None))
            self.down = None
            if stride != 1 or cin != out:
                self.down = conv_bn(cin, out, 1, stride, act=None)

        def forward(self, x):
            identity = x if self.down is None else self.down(x)
            return F.relu(self.body(x) + identity)

    class ResNet(nn.Module):
        def __init__(self, block, layers, width, num_classes=100):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, width, 7, 2, 3, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                                      nn.MaxPool2d(3, 2, 1))
            stages, cin = [], width
            for i, n in enumerate(layers):
                planes = width * (2 ** i)
                for j in range(n):
                    stages.append(block(cin, planes, 2 if (j == 0 and i > 0) else 1))
                    cin = planes * block.expansion
            self.stages = nn.Sequential(*stages)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, num_classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.stages(self.stem(x))), 1))

    # ---- MobileNetV2 / V3, EfficientNet-lite ----------------------------------------------------------
    def make_divisible(v, d=8):
        return max(d, int(v + d / 2) // d * d)

    class InvertedResidual(nn.Module):
        """1x1 expand, kxk depthwise, 1x1 project; optional squeeze-excite; residual when shapes match."""

        def __init__(self, cin, hidden, cout, k, stride, act, se=False):
            super().__init__()
            layers = []
            if hidden != cin:
                layers.append(conv_bn(cin, hidden, 1, act=act))
            layers.append(conv_bn(hidden, hidden, k, stride, groups=hidden, act=act))
            if se:
                layers.append(SqueezeExcite(hidden))
            layers.append(conv_bn(hidden, cout, 1, act=None))
            self.body = nn.Sequential(*layers)
            self.residual = stride == 1 and cin == cout

        def forward(self, x):
            y = self.body(x)
            return x + y if self.residual else y

    class SqueezeExcite(nn.Module):
        def __init__(self, c):
            super().__init__()
            s = make_divisible(c // 4)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc1 = nn.Conv2d(c, s, 1)
            self.fc2 = nn.Conv2d(s, c, 1)

        def forward(self, x):
            return x * F.hardsigmoid(self.fc2(F.relu(self.fc1(self.pool(x)))))

    class MobileNetV2(nn.Module):
        def __init__(self, width=0.5, num_classes=100):
            super().__init__()
            cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 2, 2), (6, 96, 2, 1), (6, 160, 2, 2),
                   (6, 320, 1, 1)]  # (expansion t, channels c, repeats n, first stride s)
            cin = make_divisible(32 * width)
            layers = [conv_bn(3, cin, 3, 2, act=nn.ReLU6)]
            for t, c, n, s in cfg:
                cout = make_divisible(c * width)
                for i in range(n):
                    layers.append(InvertedResidual(cin, cin * t, cout, 3, s if i == 0 else 1, nn.ReLU6))
                    cin = cout
            last = 640
            layers.append(conv_bn(cin, last, 1, act=nn.ReLU6))
            self.features = nn.Sequential(*layers)
            self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))

        def forward(self, x):
            x = self.features(x)
            return self.classifier(x.mean([2, 3]))  # ReduceMean over H, W

    class MobileNetV3Small(nn.Module):
        def __init__(self, num_classes=100):
            super().__init__()
            RE, HS = nn.ReLU, nn.Hardswish
            cfg = [(3, 16, 16, True, RE, 2), (3, 72, 24, False, RE, 2), (3, 88, 24, False, RE, 1),
                   (5, 96, 40, True, HS, 2), (5, 240, 40, True, HS, 1), (5, 120, 48, True, HS, 1),
                   (5, 288, 96, True, HS, 2), (5, 576, 96, True, HS, 1)]  # (k, expanded, out, SE, act, stride)
            layers = [conv_bn(3, 16, 3, 2, act=HS)]
            cin = 16
            for k, exp, out, se, act, s in cfg:
                layers.append(InvertedResidual(cin, exp, out, k, s, act, se))
                cin = out
            layers.append(conv_bn(cin, 576, 1, act=HS))
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Linear(576, 256), nn.Hardswish(), nn.Dropout(0.2),
                                            nn.Linear(256, num_classes))

        def forward(self, x):
            return self.classifier(torch.flatten(self.pool(self.features(x)), 1))

    class EfficientNetLite(nn.Module):
        """EfficientNet-lite0 layout (ReLU6, no squeeze-excite), one repeat per stage."""

        def __init__(self, num_classes=100):
            super().__init__()
            cfg = [(1, 3, 1, 16), (6, 3, 2, 24), (6, 5, 2, 40), (6, 3, 2, 80), (6, 5, 1, 112), (6, 5, 2, 192),
                   (6, 3, 1, 320)]  # (expansion, kernel, stride, out)
            layers = [conv_bn(3, 32, 3, 2, act=nn.ReLU6)]
            cin = 32
            for t, k, s, out in cfg:
                layers.append(InvertedResidual(cin, cin * t, out, k, s, nn.ReLU6))
                if s == 1 and cin != out:  # a second, residual repeat where the first changed width
                    layers.append(InvertedResidual(out, out * t, out, k, 1, nn.ReLU6))
                cin = out
            layers.append(conv_bn(cin, 640, 1, act=nn.ReLU6))
            self.features = nn.Sequential(*layers)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(640, num_classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.features(x)), 1))

    # ---- BERT / MiniLM-style encoder -----------------------------------------------------------------
    class SelfAttention(nn.Module):
        def __init__(self, hidden, heads):
            super().__init__()
            self.heads, self.head_dim = heads, hidden // heads
            self.q, self.k, self.v = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
            self.out = nn.Linear(hidden, hidden)

        def split(self, x):  # [B, S, hidden] -> [B, heads, S, head_dim]
            b, s = x.size(0), x.size(1)
            return x.view(b, s, self.heads, self.head_dim).permute(0, 2, 1, 3)

        def forward(self, x, mask_bias):
            q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_dim) + mask_bias
            ctx = torch.matmul(torch.softmax(scores, dim=-1), v)
            b, s = x.size(0), x.size(1)
            return self.out(ctx.permute(0, 2, 1, 3).reshape(b, s, self.heads * self.head_dim))

    class EncoderLayer(nn.Module):
        def __init__(self, hidden, heads, inter):
            super().__init__()
            self.attn = SelfAttention(hidden, heads)
            self.ln1 = nn.LayerNorm(hidden, eps=1e-12)
            self.ffn = nn.Sequential(nn.Linear(hidden, inter), nn.GELU(), nn.Linear(inter, hidden))
            self.ln2 = nn.LayerNorm(hidden, eps=1e-12)

        def forward(self, x, mask_bias):
            x = self.ln1(x + self.attn(x, mask_bias))
            return self.ln2(x + self.ffn(x))

    class MiniLM(nn.Module):
        def __init__(self, vocab=1000, hidden=64, heads=4, layers=2, inter=256, max_pos=64):
            super().__init__()
            self.word = nn.Embedding(vocab, hidden)
            self.pos = nn.Embedding(max_pos, hidden)
            self.tok_type = nn.Embedding(2, hidden)
            self.ln = nn.LayerNorm(hidden, eps=1e-12)
            self.register_buffer("position_ids", torch.arange(max_pos).unsqueeze(0))
            self.layers = nn.ModuleList([EncoderLayer(hidden, heads, inter) for _ in range(layers)])
            self.pooler = nn.Linear(hidden, hidden)

        def forward(self, input_ids, attention_mask):
            seq = input_ids.size(1)
            pos_ids = self.position_ids[:, :seq]
            type_ids = torch.zeros_like(input_ids)
            x = self.ln(self.word(input_ids) + self.pos(pos_ids) + self.tok_type(type_ids))
            dtype = self.word.weight.dtype
            mask_bias = (1.0 - attention_mask[:, None, None, :].to(dtype)) * -10000.0
            for layer in self.layers:
                x = layer(x, mask_bias)
            return x, torch.tanh(self.pooler(x[:, 0]))

    # ---- OCR: DBNet-like text detector and CRNN-like recognizer --------------------------------------
    class DBNetLite(nn.Module):
        def __init__(self):
            super().__init__()
            chans = [16, 32, 64, 128]
            self.stages = nn.ModuleList()
            cin = 3
            for c in chans:  # strides 2, 4, 8, 16
                self.stages.append(nn.Sequential(conv_bn(cin, c, 3, 2), conv_bn(c, c, 3)))
                cin = c
            self.lateral = nn.ModuleList([nn.Conv2d(c, 32, 1) for c in chans[1:]])
            self.smooth = nn.ModuleList([nn.Conv2d(32, 8, 3, padding=1) for _ in chans[1:]])

            def head():
                return nn.Sequential(nn.Conv2d(24, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                                     nn.ConvTranspose2d(8, 8, 2, 2), nn.BatchNorm2d(8), nn.ReLU(),
                                     nn.ConvTranspose2d(8, 1, 2, 2))
            self.prob_head, self.thresh_head = head(), head()

        def forward(self, x):
            feats = []
            for s in self.stages:
                x = s(x)
                feats.append(x)
            c2, c3, c4 = [lat(f) for lat, f in zip(self.lateral, feats[1:])]  # strides 4, 8, 16
            p4 = c4
            p3 = c3 + F.interpolate(p4, scale_factor=2.0, mode="nearest")
            p2 = c2 + F.interpolate(p3, scale_factor=2.0, mode="nearest")
            size = p2.shape[2:]
            fused = torch.cat([self.smooth[0](p2),
                               F.interpolate(self.smooth[1](p3), size=size, mode="bilinear", align_corners=False),
                               F.interpolate(self.smooth[2](p4), size=size, mode="bilinear", align_corners=False)], 1)
            prob = torch.sigmoid(self.prob_head(fused))
            thresh = torch.sigmoid(self.thresh_head(fused))
            binary = torch.sigmoid(50.0 * (prob - thresh))  # differentiable binarization
            return torch.cat([prob, thresh, binary], 1)

    class CRNNLite(nn.Module):
        def __init__(self, num_classes=37):
            super().__init__()
            self.cnn = nn.Sequential(
                conv_bn(1, 16, 3), nn.MaxPool2d(2, 2),                  # 32x128 -> 16x64
                conv_bn(16, 32, 3), nn.MaxPool2d(2, 2),                 # -> 8x32
                conv_bn(32, 64, 3), conv_bn(64, 64, 3), nn.MaxPool2d((2, 1), (2, 1)),  # -> 4x32
                conv_bn(64, 96, 3), nn.MaxPool2d((2, 1), (2, 1)))       # -> 2x32
            self.fc1 = nn.Linear(96 * 2, 128)
            self.fc2 = nn.Linear(128, num_classes)

        def forward(self, x):
            f = self.cnn(x)                                   # [N, C, H, W]
            n, c, h, w = f.shape
            seq = f.reshape(n, c * h, w).permute(2, 0, 1)     # [W, N, C*H], time-major like CTC expects
            return torch.log_softmax(self.fc2(F.relu(self.fc1(seq))), dim=2)

    # ---- the list ------------------------------------------------------------------------------------
    def image(rs, shape):
        return rs.standard_normal(shape).astype(np.float32)

    def bert_inputs(rs, batch=2, seq=16):
        ids = rs.randint(0, 1000, size=(batch, seq)).astype(np.int64)
        mask = np.ones((batch, seq), dtype=np.int64)
        mask[1, seq - 5:] = 0  # padding in the second sequence
        return [("input_ids", ids), ("attention_mask", mask)]

    img_axes = {0: "batch"}
    bert_axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                 "last_hidden_state": {0: "batch", 1: "seq"}, "pooler_output": {0: "batch"}}
    # name -> (builder, opset, inputs(rs), output names, dynamic axes[, more input sets(rs)]).
    # The extra input sets use other values of the symbolic dims (test_data_set_1, ...).
    return {
        "resnet18": (lambda: ResNet(BasicBlock, [2, 2, 2, 2], 64), 13,
                         lambda rs: [("image", image(rs, (1, 3, 64, 64)))], ["logits"],
                         {"image": img_axes, "logits": img_axes}),
        "resnet50_w16": (lambda: ResNet(Bottleneck, [3, 4, 6, 3], 16), 17,
                         lambda rs: [("image", image(rs, (1, 3, 64, 64)))], ["logits"],
                         {"image": img_axes, "logits": img_axes}),
        "mobilenetv2_050": (lambda: MobileNetV2(0.5), 11,
                            lambda rs: [("image", image(rs, (2, 3, 64, 64)))], ["logits"],
                            {"image": img_axes, "logits": img_axes}),
        "mobilenetv3_small": (lambda: MobileNetV3Small(), 17,
                              lambda rs: [("image", image(rs, (1, 3, 64, 64)))], ["logits"],
                              {"image": img_axes, "logits": img_axes}),
        "efficientnet_lite": (lambda: EfficientNetLite(), 13,
                              lambda rs: [("image", image(rs, (1, 3, 64, 64)))], ["logits"],
                              {"image": img_axes, "logits": img_axes}),
        "minilm_op11": (lambda: MiniLM(), 11, bert_inputs, ["last_hidden_state", "pooler_output"], bert_axes,
                        [lambda rs: bert_inputs(rs, 3, 7)]),
        "minilm_op13": (lambda: MiniLM(), 13, bert_inputs, ["last_hidden_state", "pooler_output"], bert_axes,
                        [lambda rs: bert_inputs(rs, 3, 7)]),
        "minilm_op17": (lambda: MiniLM(), 17, bert_inputs, ["last_hidden_state", "pooler_output"], bert_axes,
                        [lambda rs: bert_inputs(rs, 3, 7)]),
        "dbnet_lite": (lambda: DBNetLite(), 11, lambda rs: [("image", image(rs, (1, 3, 64, 96)))], ["maps"],
                       {"image": {0: "batch", 2: "height", 3: "width"}, "maps": {0: "batch", 2: "height", 3: "width"}},
                       [lambda rs: [("image", image(rs, (2, 3, 96, 48)))]]),
        "crnn_lite": (lambda: CRNNLite(), 13, lambda rs: [("image", image(rs, (1, 1, 32, 128)))], ["log_probs"],
                      {"image": {0: "batch", 3: "width"}, "log_probs": {0: "steps", 1: "batch"}},
                      [lambda rs: [("image", image(rs, (3, 1, 32, 72)))]]),
    }, randomize_bn


MODEL_NAMES = ["resnet18", "resnet50_w16", "mobilenetv2_050", "mobilenetv3_small", "efficientnet_lite",
               "minilm_op11", "minilm_op13", "minilm_op17", "dbnet_lite", "crnn_lite"]


def up_to_date(folder):
    stamp = os.path.join(folder, ".done")
    return os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(os.path.abspath(__file__))


def export_one(name, spec, randomize_bn, out_dir, deps, seed):
    np, onnx, torch, numpy_helper = deps
    builder, opset, make_inputs, output_names, dynamic_axes = spec[:5]
    more_inputs = spec[5] if len(spec) > 5 else []
    t0 = time.time()
    torch.manual_seed(seed)
    model = builder()
    with torch.no_grad():
        randomize_bn(model, torch.Generator().manual_seed(seed))
    model.eval()
    inputs = make_inputs(np.random.RandomState(seed))
    input_names = [n for n, _ in inputs]

    folder = os.path.join(out_dir, name)
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    model_path = os.path.join(folder, "model.onnx")
    args32 = tuple(torch.from_numpy(a) for _, a in inputs)
    torch.onnx.export(model, args32, model_path, opset_version=opset, input_names=input_names,
                      output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True)
    proto = onnx.load(model_path)
    onnx.checker.check_model(proto)

    def as_tuple(y):
        return tuple(y) if isinstance(y, (tuple, list)) else (y,)

    def save(arr, tensor_name, path):
        with open(path, "wb") as f:
            f.write(numpy_helper.from_array(arr, name=tensor_name).SerializeToString())

    model64 = copy.deepcopy(model).double()
    rs = np.random.RandomState(seed + 1)
    all_sets = [inputs] + [make(rs) for make in more_inputs]
    for k, set_inputs in enumerate(all_sets):
        data_dir = os.path.join(folder, f"test_data_set_{k}")
        os.makedirs(data_dir)
        a32 = tuple(torch.from_numpy(a) for _, a in set_inputs)
        a64 = tuple(a.double() if a.is_floating_point() else a for a in a32)
        with torch.no_grad():
            o32, o64 = as_tuple(model(*a32)), as_tuple(model64(*a64))
        for i, (n, a) in enumerate(set_inputs):
            save(a, n, os.path.join(data_dir, f"input_{i}.pb"))
        for i, n in enumerate(output_names):
            save(o32[i].numpy(), n, os.path.join(data_dir, f"output_{i}.pb"))
            save(o64[i].numpy(), n, os.path.join(data_dir, f"output_{i}_f64.pb"))
        if k == 0:
            out32, out64 = o32, o64

    params = sum(p.numel() for p in model.parameters())
    ops = sorted({n.op_type for n in proto.graph.node})
    err = max(float((o32.double() - o64).abs().max()) for o32, o64 in zip(out32, out64))
    with open(os.path.join(folder, "info.txt"), "w") as f:
        f.write(f"opset {opset}\nparams {params}\nops {' '.join(ops)}\n"
                f"torch_f32_vs_f64_max_abs_err {err:.3e}\n")
        for i, (n, a) in enumerate(inputs):
            f.write(f"input {n} {a.dtype} {'x'.join(map(str, a.shape))}\n")
        for i, n in enumerate(output_names):
            f.write(f"output {n} {'x'.join(map(str, out64[i].shape))} max_abs {float(out64[i].abs().max()):.4g}\n")
    with open(os.path.join(folder, ".done"), "w") as f:
        f.write("ok\n")
    print(f"{name:18s} opset {opset:2d}  {params / 1e6:6.2f} M params  torch f32-vs-f64 {err:.1e}  "
          f"{time.time() - t0:5.1f} s  ops: {' '.join(ops)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--only", nargs="*", default=None, help="model names to (re)build")
    ap.add_argument("--force", action="store_true", help="rebuild even when up to date")
    ap.add_argument("--list", action="store_true", help="print the model names and exit")
    args = ap.parse_args()
    if args.list:
        print("\n".join(MODEL_NAMES))
        return 0
    names = args.only or MODEL_NAMES
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        print(f"make_e2e_models.py: unknown model(s) {unknown}; known: {MODEL_NAMES}", file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    unavailable = os.path.join(args.out, "unavailable.txt")
    todo = [n for n in names if args.force or not up_to_date(os.path.join(args.out, n))]
    if not todo:
        print(f"{args.out}: {len(names)} e2e models up to date")
        return 0
    try:
        deps = import_deps()
    except ImportError as e:
        with open(unavailable, "w") as f:
            f.write(f"python3-torch/python3-onnx not importable by {sys.executable} ({e})\n")
        print(f"make_e2e_models.py: cannot build the e2e models: {e}", file=sys.stderr)
        return 0
    if os.path.exists(unavailable):
        os.remove(unavailable)
    np, onnx, torch, numpy_helper = deps
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    specs, randomize_bn = define_models(torch, np)
    for name in todo:
        export_one(name, specs[name], randomize_bn, args.out, deps, seed=1000 + MODEL_NAMES.index(name))
    with open(os.path.join(args.out, "manifest.txt"), "w") as f:
        for name in MODEL_NAMES:
            f.write(f"{name} {specs[name][1]}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
