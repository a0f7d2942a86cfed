"""Convert MediaPipe's BlazeFace full-range face detector (a ``.tflite`` file) to ONNX.

Why: BlazeFace full range finds faces dlib's HOG detector misses (all the ~60 px faces of the
bench set, 39/42 faces against 28/42) in a fifth of the time, but it ships as a TensorFlow Lite
flatbuffer, and Consentry must not depend on a TFLite runtime. onnxruntime (already a runtime
dependency) runs it once converted. ``tflite2onnx`` 0.4.1 converts it correctly too (while
warning that float16 is "not supported/tested"), but would add two runtime packages
(``tflite2onnx`` and ``tflite``); this module needs none beyond ``onnx``: the flatbuffer is read
with :mod:`struct` (its layout is small and stable, see :class:`_Table`), fully typed.

Only what this network uses is supported, and anything else fails loudly (``ConversionError``)
instead of yielding a model that computes something else: one subgraph of float32 tensors whose
constant weights are float16 behind ``DEQUANTIZE``; ``CONV_2D``, ``DEPTHWISE_CONV_2D``,
``MAX_POOL_2D`` (SAME or VALID padding, no or ReLU fused activation), ``ADD``, ``RELU``,
``PAD``, ``RESIZE_BILINEAR`` and ``RESHAPE``; input ``[1, 192, 192, 3]``; outputs
``[1, 2304, 16]`` (box and key-point regressors) and ``[1, 2304, 1]`` (face logits).

The graph keeps the TFLite input (float32 NHWC in [-1, 1], so the converted model and the
reference take the very same tensor) and transposes once to ONNX's NCHW; weights go from TFLite's
OHWI to OIHW, SAME padding becomes TensorFlow's explicit split (the odd pixel after), and
``RESIZE_BILINEAR`` with half-pixel centres becomes ``Resize`` in ``half_pixel`` mode. Outputs
are named :data:`REGRESSORS` and :data:`CLASSIFIERS`. The model is written deterministically
(opset 17, IR version 8): the same ``.tflite`` gives the same bytes; its SHA-256 is recorded in
the model's metadata.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto, TensorProto

__all__ = [
    "ANCHORS",
    "CLASSIFIERS",
    "INPUT_NAME",
    "INPUT_SIDE",
    "REGRESSORS",
    "ConversionError",
    "convert",
]

INPUT_NAME: Final = "input"
"""float32 ``[1, 192, 192, 3]`` RGB scaled to [-1, 1], as the TFLite model takes it."""
REGRESSORS: Final = "regressors"
"""float32 ``[1, 2304, 16]``: box centre offset, size and 6 key points per anchor (input px)."""
CLASSIFIERS: Final = "classifiers"
"""float32 ``[1, 2304, 1]``: one face logit per anchor."""
INPUT_SIDE: Final = 192
ANCHORS: Final = 2304

_OPSET: Final = 17
_IR_VERSION: Final = 8
_PRODUCER: Final = "consentry.blazeface_onnx"
_PRODUCER_VERSION: Final = "1"

# TFLite schema enums (tensorflow/lite/schema/schema.fbs); operator codes are in ``_OPS``.
_FLOAT32, _FLOAT16, _INT32 = 0, 1, 2
_DEPTHWISE = 4
_SAME, _VALID = 0, 1
_ACT_NONE, _ACT_RELU = 0, 1

FloatArray = npt.NDArray[np.float32]


class ConversionError(ValueError):
    """The file is not a BlazeFace-like TFLite model this converter knows; the message says why."""


# --------------------------------------------------------------------------------------------
# The flatbuffer: a table starts with a signed offset back to its vtable, whose uint16 entries
# give each field's offset inside the table (0 or past the vtable: absent, so the default).
# References to tables, vectors and strings are uint32 offsets from where they are stored.


class _Table:
    """One flatbuffer table; every read is bounds-checked and fails as ConversionError."""

    def __init__(self, data: bytes, pos: int) -> None:
        self._data = data
        self.pos = pos
        vtable = pos - self._unpack("<i", pos)
        self._vtable = vtable
        self._vsize = self._unpack("<H", vtable)

    def _unpack(self, fmt: str, at: int) -> Any:
        if at < 0 or at + struct.calcsize(fmt) > len(self._data):
            raise ConversionError(f"flatbuffer offset {at} outside the file ({len(self._data)} B)")
        return struct.unpack_from(fmt, self._data, at)[0]

    def _field(self, index: int) -> int:
        entry = 4 + 2 * index
        if entry >= self._vsize:
            return 0
        offset: int = self._unpack("<H", self._vtable + entry)
        return self.pos + offset if offset else 0

    def scalar(self, index: int, fmt: str, default: int) -> int:
        at = self._field(index)
        return int(self._unpack(fmt, at)) if at else default

    def _target(self, index: int) -> int:
        at = self._field(index)
        return at + int(self._unpack("<I", at)) if at else 0

    def table(self, index: int) -> _Table | None:
        at = self._target(index)
        return _Table(self._data, at) if at else None

    def _vector(self, index: int) -> tuple[int, int]:
        at = self._target(index)
        return (at + 4, int(self._unpack("<I", at))) if at else (0, 0)

    def tables(self, index: int) -> list[_Table]:
        start, count = self._vector(index)
        spots = (start + 4 * i for i in range(count))
        return [_Table(self._data, at + int(self._unpack("<I", at))) for at in spots]

    def ints(self, index: int) -> list[int]:
        start, count = self._vector(index)
        return [int(self._unpack("<i", start + 4 * i)) for i in range(count)]

    def length(self, index: int) -> int:
        return self._vector(index)[1]

    def raw(self, index: int) -> bytes:
        start, count = self._vector(index)
        if start + count > len(self._data):
            raise ConversionError(f"byte vector at {start} runs past the end of the file")
        return self._data[start : start + count]


@dataclass(frozen=True)
class _Tensor:
    name: str
    shape: tuple[int, ...]
    type: int
    data: bytes
    """The constant's bytes; empty for activations."""


@dataclass(frozen=True)
class _Op:
    code: int
    inputs: list[int]
    outputs: list[int]
    options_type: int
    options: _Table | None


def _parse(data: bytes) -> tuple[list[_Tensor], list[_Op], list[int], list[int]]:
    """The tensors, operators, inputs and outputs of the file's only subgraph."""
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ConversionError("not a TFLite flatbuffer (no 'TFL3' identifier)")
    model = _Table(data, struct.unpack_from("<I", data, 0)[0])
    if model.scalar(0, "<I", 0) != 3:
        raise ConversionError(f"TFLite schema version {model.scalar(0, '<I', 0)}, expected 3")
    codes = [
        max(code.scalar(0, "<b", 0), code.scalar(3, "<i", 0)) for code in model.tables(1)
    ]  # deprecated_builtin_code (int8) and builtin_code: the larger is the real one
    buffers = model.tables(4)
    if any(b.scalar(1, "<Q", 0) for b in buffers):
        raise ConversionError("buffers stored outside the flatbuffer are not supported")
    subgraphs = model.tables(2)
    if len(subgraphs) != 1:
        raise ConversionError(f"{len(subgraphs)} subgraphs, expected 1")
    graph = subgraphs[0]
    tensors: list[_Tensor] = []
    for t in graph.tables(0):
        name = t.raw(3).decode("utf-8", "replace")
        quantization = t.table(4)
        if quantization is not None and quantization.length(2):  # per-tensor or channel scales
            raise ConversionError(f"tensor {name!r} is quantized, which is not supported")
        buffer = t.scalar(2, "<I", 0)
        if buffer >= len(buffers):
            raise ConversionError(f"tensor {name!r} names buffer {buffer} of {len(buffers)}")
        data = buffers[buffer].raw(0)
        tensors.append(_Tensor(name, tuple(t.ints(0)), t.scalar(1, "<b", 0), data))
    ops = []
    for op in graph.tables(3):
        index = op.scalar(0, "<I", 0)
        if index >= len(codes):
            raise ConversionError(f"operator code {index} of {len(codes)}")
        ops.append(_Op(codes[index], op.ints(1), op.ints(2), op.scalar(3, "<B", 0), op.table(4)))
    return tensors, ops, graph.ints(1), graph.ints(2)


# --------------------------------------------------------------------------------------------
# The ONNX graph. Rank-4 activations are NCHW in ONNX; ``_Value.shape`` stays TFLite's NHWC.


@dataclass(frozen=True)
class _Value:
    name: str
    shape: tuple[int, ...]
    nchw: bool


class _Builder:
    """Accumulates nodes and initializers with deterministic names, op by op."""

    def __init__(self, tensors: list[_Tensor]) -> None:
        self.tensors = tensors
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
        self.values: dict[int, _Value] = {}
        self.constants: dict[int, npt.NDArray[Any]] = {}
        self.what = ""
        self._count = 0

    def fail(self, message: str) -> NoReturn:
        raise ConversionError(f"{self.what}: {message}")

    def _name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, array: npt.NDArray[Any]) -> str:
        from onnx import numpy_helper

        name = self._name(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attributes: Any) -> str:
        from onnx import helper

        output = self._name(stem)
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output

    def value(self, index: int, rank4: bool = False) -> _Value:
        if index not in self.values:
            self.fail(f"input tensor {index} is not computed by then")
        if rank4 and not self.values[index].nchw:
            self.fail(f"expects a 4-D activation, got shape {self.values[index].shape}")
        return self.values[index]

    def const(self, index: int) -> npt.NDArray[Any]:
        """A constant tensor's values (float16 weights already dequantized to float32)."""
        if index in self.constants:
            return self.constants[index]
        tensor = self.tensors[index] if 0 <= index < len(self.tensors) else None
        dtypes = {_FLOAT32: "<f4", _FLOAT16: "<f2", _INT32: "<i4"}
        if tensor is None or not tensor.data or tensor.type not in dtypes:
            self.fail(f"input tensor {index} is not a supported constant")
        dtype = np.dtype(dtypes[tensor.type])
        if len(tensor.data) != math.prod(tensor.shape) * dtype.itemsize:
            self.fail(f"constant {tensor.name!r} has {len(tensor.data)} bytes for {tensor.shape}")
        array = np.frombuffer(tensor.data, dtype).reshape(tensor.shape)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            self.fail(f"constant {tensor.name!r} holds infinite or NaN values")
        return array.astype(np.int64 if tensor.type == _INT32 else np.float32)

    def output(self, op: _Op, name: str, nchw: bool, shape: tuple[int, ...] | None = None) -> None:
        """Record ``name`` as the op's output, checking the shape the file gives it."""
        tensor = self.tensors[op.outputs[0]]
        if tensor.type != _FLOAT32:
            self.fail(f"output {tensor.name!r} is not float32")
        if shape is not None and shape != tensor.shape:
            self.fail(f"computes shape {shape}, the file says {tensor.shape}")
        self.values[op.outputs[0]] = _Value(name, tensor.shape, nchw)

    def activate(self, name: str, function: int) -> str:
        if function not in (_ACT_NONE, _ACT_RELU):
            self.fail(f"fused activation {function} is not supported")
        return self.node("Relu", [name], "relu") if function == _ACT_RELU else name


def _spatial(
    b: _Builder, size: int, kernel: int, stride: int, dilation: int, padding: int
) -> tuple[int, int, int]:
    """Output size and the padding before and after, as TensorFlow computes them."""
    if min(stride, dilation, kernel) < 1 or padding not in (_SAME, _VALID):
        b.fail(f"stride {stride}, dilation {dilation}, kernel {kernel}, padding mode {padding}")
    span = (kernel - 1) * dilation + 1
    if padding == _VALID:
        return (size - span) // stride + 1, 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + span - size, 0)
    return out, total // 2, total - total // 2


def _window(
    b: _Builder,
    x: _Value,
    kernel: tuple[int, int],
    padding: int,
    strides: tuple[int, int],
    dilations: tuple[int, int] = (1, 1),
) -> tuple[dict[str, Any], int, int]:
    """Conv/pool attributes (``strides``, ``dilations``: height, width) and the output size."""
    oh, top, bottom = _spatial(b, x.shape[1], kernel[0], strides[0], dilations[0], padding)
    ow, left, right = _spatial(b, x.shape[2], kernel[1], strides[1], dilations[1], padding)
    attributes: dict[str, Any] = {
        "kernel_shape": list(kernel),
        "strides": list(strides),
        "pads": [top, left, bottom, right],
    }
    if dilations != (1, 1):
        attributes["dilations"] = list(dilations)
    return attributes, oh, ow


def _convolution(b: _Builder, op: _Op, o: _Table) -> None:
    x, weights = b.value(op.inputs[0], rank4=True), b.const(op.inputs[1])
    channels, depthwise = x.shape[3], op.code == _DEPTHWISE
    # Depthwise weights are [1, kh, kw, channels * multiplier], others [filters, kh, kw, channels].
    if weights.ndim != 4 or weights.shape[0 if depthwise else 3] != (1 if depthwise else channels):
        b.fail(f"weights of shape {weights.shape} for {channels} channels")
    # Options: padding, stride w, stride h, [depth multiplier], activation, dilation w, h.
    first = 4 if depthwise else 3
    act, dilations = (
        o.scalar(first, "<b", 0),
        (o.scalar(first + 2, "<i", 1), o.scalar(first + 1, "<i", 1)),
    )
    if depthwise:  # [1, kh, kw, channels * multiplier] -> [channels * multiplier, 1, kh, kw]
        filters, kernel = weights.shape[3], weights.transpose(3, 0, 1, 2)
        if filters != channels * o.scalar(3, "<i", 1):
            b.fail(f"{filters} filters for {channels} channels")
    else:  # [filters, kh, kw, channels] -> [filters, channels, kh, kw]
        filters, kernel = weights.shape[0], weights.transpose(0, 3, 1, 2)
    bias = b.const(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    if bias is None:
        bias = np.zeros(filters, np.float32)
    if bias.shape != (filters,):
        b.fail(f"bias of shape {bias.shape} for {filters} filters")
    strides = (o.scalar(2, "<i", 0), o.scalar(1, "<i", 0))
    attributes, oh, ow = _window(b, x, kernel.shape[2:], o.scalar(0, "<b", 0), strides, dilations)
    inputs = [x.name, b.constant("W", kernel), b.constant("B", bias)]
    conv = b.node("Conv", inputs, "conv", group=channels if depthwise else 1, **attributes)
    b.output(op, b.activate(conv, act), True, (x.shape[0], oh, ow, filters))


def _max_pool(b: _Builder, op: _Op, o: _Table) -> None:
    # Options: padding, stride w, stride h, filter width, filter height, activation.
    x = b.value(op.inputs[0], rank4=True)
    kernel, strides = (
        (o.scalar(4, "<i", 0), o.scalar(3, "<i", 0)),
        (o.scalar(2, "<i", 0), o.scalar(1, "<i", 0)),
    )
    attributes, oh, ow = _window(b, x, kernel, o.scalar(0, "<b", 0), strides)
    pooled = b.node("MaxPool", [x.name], "max_pool", **attributes)
    b.output(op, b.activate(pooled, o.scalar(5, "<b", 0)), True, (x.shape[0], oh, ow, x.shape[3]))


def _add(b: _Builder, op: _Op, o: _Table) -> None:
    x, y = b.value(op.inputs[0]), b.value(op.inputs[1])
    if x.shape != y.shape or x.nchw != y.nchw:
        b.fail(f"adds shapes {x.shape} and {y.shape} (broadcasting is not supported)")
    added = b.activate(b.node("Add", [x.name, y.name], "add"), o.scalar(0, "<b", 0))
    b.output(op, added, x.nchw, x.shape)


def _relu(b: _Builder, op: _Op, o: _Table | None) -> None:
    x = b.value(op.inputs[0])
    b.output(op, b.node("Relu", [x.name], "relu"), x.nchw, x.shape)


def _pad(b: _Builder, op: _Op, o: _Table | None) -> None:
    x, pads = b.value(op.inputs[0], rank4=True), b.const(op.inputs[1])
    if pads.shape != (4, 2) or (pads < 0).any():
        b.fail(f"paddings {pads.tolist()}")
    order = [0, 3, 1, 2]  # NHWC paddings in NCHW order: all befores, then all afters
    onnx_pads = np.array([pads[a, 0] for a in order] + [pads[a, 1] for a in order], np.int64)
    padded = b.node("Pad", [x.name, b.constant("pads", onnx_pads)], "pad", mode="constant")
    b.output(op, padded, True, tuple(int(s + p.sum()) for s, p in zip(x.shape, pads, strict=True)))


def _resize(b: _Builder, op: _Op, o: _Table) -> None:
    # Options: (deprecated new height, new width), align corners, half-pixel centres.
    x, size = b.value(op.inputs[0], rank4=True), b.const(op.inputs[1])
    align_corners, half_pixel = o.scalar(2, "<B", 0), o.scalar(3, "<B", 0)
    if size.shape != (2,) or (size < 1).any() or (align_corners and half_pixel):
        b.fail(f"size {size.tolist()}, align_corners {align_corners}, half-pixel {half_pixel}")
    mode = "align_corners" if align_corners else "half_pixel" if half_pixel else "asymmetric"
    sizes = b.constant("sizes", np.array([x.shape[0], x.shape[3], *size], np.int64))
    resized = b.node(
        "Resize",
        [x.name, "", "", sizes],
        "resize",
        mode="linear",
        coordinate_transformation_mode=mode,
    )
    b.output(op, resized, True, (x.shape[0], int(size[0]), int(size[1]), x.shape[3]))


def _reshape(b: _Builder, op: _Op, o: _Table | None) -> None:
    x, target = b.value(op.inputs[0]), b.tensors[op.outputs[0]].shape
    if len(op.inputs) == 2 and op.inputs[1] >= 0:
        wanted = [int(v) for v in b.const(op.inputs[1])]
    else:
        wanted = o.ints(0) if o is not None else []
    if (
        math.prod(target) != math.prod(x.shape)
        or len(wanted) != len(target)
        or any(w not in (-1, t) for w, t in zip(wanted, target, strict=True))
    ):
        b.fail(f"{x.shape} to {wanted}, the file says {target}")
    name = b.node("Transpose", [x.name], "nhwc", perm=[0, 2, 3, 1]) if x.nchw else x.name
    name = b.node("Reshape", [name, b.constant("shape", np.array(target, np.int64))], "reshape")
    if len(target) == 4:
        name = b.node("Transpose", [name], "nchw", perm=[0, 3, 1, 2])
    b.output(op, name, len(target) == 4)


def _dequantize(b: _Builder, op: _Op, o: _Table | None) -> None:
    if b.tensors[op.inputs[0]].type != _FLOAT16 or b.tensors[op.outputs[0]].type != _FLOAT32:
        b.fail("only float16 to float32 constants are supported")
    b.constants[op.outputs[0]] = b.const(op.inputs[0])


_Handler = Callable[[_Builder, _Op, Any], None]
_OPS: Final[dict[int, tuple[str, _Handler, tuple[int, ...], int | None]]] = {
    # builtin code: name, handler, allowed input counts, builtin options type (None: any)
    0: ("ADD", _add, (2,), 11),
    3: ("CONV_2D", _convolution, (2, 3), 1),
    4: ("DEPTHWISE_CONV_2D", _convolution, (2, 3), 2),
    6: ("DEQUANTIZE", _dequantize, (1,), None),
    17: ("MAX_POOL_2D", _max_pool, (1,), 5),
    19: ("RELU", _relu, (1,), None),
    22: ("RESHAPE", _reshape, (1, 2), None),
    23: ("RESIZE_BILINEAR", _resize, (2,), 15),
    34: ("PAD", _pad, (2,), None),
}


def _build(
    tensors: list[_Tensor], ops: list[_Op], inputs: list[int], outputs: list[int], sha256: str
) -> ModelProto:
    from onnx import TensorProto, helper

    b = _Builder(tensors)
    shape = (1, INPUT_SIDE, INPUT_SIDE, 3)
    if len(inputs) != 1 or tensors[inputs[0]].shape != shape or tensors[inputs[0]].type != 0:
        raise ConversionError(f"expected one float32 input of shape {shape}")
    nchw = b.node("Transpose", [INPUT_NAME], "nchw", perm=[0, 3, 1, 2])
    b.values[inputs[0]] = _Value(nchw, shape, True)
    for number, op in enumerate(ops):
        name, handler, arity, options = _OPS.get(op.code, (f"builtin {op.code}", None, (), None))
        b.what = f"operator {number} ({name})"
        if handler is None:
            b.fail("this operator is not supported")
        if len(op.inputs) not in arity or len(op.outputs) != 1:
            b.fail(f"{len(op.inputs)} inputs and {len(op.outputs)} outputs")
        if options is not None and (op.options is None or op.options_type != options):
            b.fail(f"builtin options of type {op.options_type}, expected {options}")
        handler(b, op, op.options)
    b.what = "graph outputs"
    kinds: dict[tuple[int, ...], str] = {(1, ANCHORS, 16): REGRESSORS, (1, ANCHORS, 1): CLASSIFIERS}
    found = {kinds.get(b.value(i).shape, ""): b.value(i) for i in outputs}
    if len(outputs) != 2 or set(found) != {REGRESSORS, CLASSIFIERS}:
        b.fail(f"shapes {[b.value(i).shape for i in outputs]}, expected those of {set(kinds)}")
    names = (REGRESSORS, CLASSIFIERS)
    b.nodes += [helper.make_node("Identity", [found[k].name], [k], name=k) for k in names]
    graph = helper.make_graph(
        b.nodes,
        "blazeface_full_range",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, list(found[k].shape)) for k in names],
        initializer=b.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name=_PRODUCER,
        producer_version=_PRODUCER_VERSION,
        doc_string=(
            "MediaPipe BlazeFace full range (Apache-2.0), converted from TFLite: 192x192 NHWC"
            " float32 RGB in [-1, 1] to 2304 anchors' regressors and face logits."
        ),
    )
    model.ir_version = _IR_VERSION
    helper.set_model_props(model, {"source_sha256": sha256})
    return model


def convert(tflite_path: Path, onnx_path: Path) -> None:
    """Read the BlazeFace ``.tflite`` at ``tflite_path`` and write the ONNX model to ``onnx_path``.

    Raises ``ConversionError`` (a ``ValueError``) naming what is not supported. The output is
    byte-for-byte the same for the same input; it is written to a temporary file beside
    ``onnx_path`` and renamed into place, so a reader never sees half a model. Needs ``onnx``.
    """
    import onnx

    data = tflite_path.read_bytes()
    model = _build(*_parse(data), hashlib.sha256(data).hexdigest())
    try:
        onnx.checker.check_model(model, full_check=True)
    except onnx.checker.ValidationError as exc:
        raise ConversionError(f"the converted graph is invalid: {exc}") from exc
    payload = model.SerializeToString(deterministic=True)
    partial = onnx_path.with_name(f".{onnx_path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(payload)
        partial.replace(onnx_path)
    finally:
        partial.unlink(missing_ok=True)
