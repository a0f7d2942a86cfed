"""A stand-in model: a tiny ONNX classifier (onnx.helper) that scores how red an image is.

Tests and the demo declare it an explicit-content model (``role = "explicit"``) to exercise the
real loading, preprocessing, inference, policy and face code without any real model weights and
without any explicit imagery: pure red scores ~1.0, everyday photos score low, and a photo beside
a red panel of its own size about 0.99.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 32
LABELS = ("other", "red")


def build_red_model(path: Path, *, batch: str | int = "N") -> Path:
    """Write the model to ``path``: logits = W @ mean(RGB) + b; ``red`` = 20*(R-(G+B)/2) - 5."""
    weights = np.array([[0.0, 20.0], [0.0, -10.0], [0.0, -10.0]], dtype=np.float32)
    bias = np.array([0.0, -5.0], dtype=np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["image"], ["means"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["means", "W"], ["scaled"]),
            helper.make_node("Add", ["scaled", "b"], ["logits"]),
        ],
        "red_classifier",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 2])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def write_manifest(
    folder: Path,
    *,
    name: str = "redness",
    flag: float = 0.5,
    quarantine: float | None = 0.95,
    batch: str | int = "N",
    sha256: bool = True,
    role: str | None = None,
) -> Path:
    """Build the model in ``folder`` and write a manifest describing it; returns the manifest."""
    model = build_red_model(folder / f"{name}.onnx", batch=batch)
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    manifest = folder / f"{name}.toml"
    manifest.write_text(
        f"""name = "{name}"
file = "{model.name}"
{f'sha256 = "{digest}"' if sha256 else ""}
{f'role = "{role}"' if role else ""}
license = "MIT"
description = "stand-in model: how red an image is"

[input]
width = {SIZE}
height = {SIZE}
layout = "NCHW"
channel_order = "RGB"
resize = "stretch"
scale = 0.00392156862745098
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]

[output]
labels = ["other", "red"]
activation = "softmax"
positive = "red"

[thresholds]
flag = {flag}
{"" if quarantine is None else f"quarantine = {quarantine}"}
""",
        encoding="utf-8",
    )
    return manifest
