"""Convert dlib's face recognition ResNet (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

Why: dlib computes a 128-d face descriptor in 110-180 ms per face on a 2-core host, too slow for
a face stage budgeted at 150 ms per image; the same network under onnxruntime 1.32 takes about
7 ms (1 thread) or 3-4.5 ms (2 threads) per face there, with descriptors within 1e-6 (Euclidean)
of dlib's, and onnxruntime is already a runtime dependency.

The ``.dat`` file is dlib's own binary serialisation of the whole ``anet_type`` network of
``dnn_face_recognition_ex.cpp`` (a 29-layer ResNet taking a 150x150 RGB face chip). This module
parses it with numpy alone, checking every version string, hyper-parameter and tensor shape
against that one architecture, so that any other file fails loudly (``ConversionError``) instead
of yielding a model that computes something else. The ONNX graph reproduces dlib's forward pass:

* input: ``chips``, uint8 ``[N, 150, 150, 3]`` RGB (what ``dlib.get_face_chip`` returns); the
  graph subtracts dlib's channel means (stored in the file: 122.782, 117.001, 104.298) and
  divides by 256 exactly as ``input_rgb_image_sized`` does;
* each ``affine`` layer (a frozen batch norm, ``gamma * x + beta`` per channel) is folded into
  the convolution before it, which changes results only by float rounding (~1e-6);
* dlib's strided 3x3 convolutions and pools use no padding (its default padding is ``size // 2``
  only for stride 1), so spatial sizes shrink 150 -> 72 -> 35 -> 17 -> 8 -> 3 (skip path 4)
  -> 1 (skip path 2);
* ``add_prev`` adds tensors of different shapes by treating missing channels/rows/columns as
  zero and producing the larger shape (``tt::add``): where the down-sampling branch (fewer
  channels, or a larger map from the 2x2 average pool on the skip path) differs, the graph pads
  the smaller tensor with zeros at the end before adding;
* output: ``descriptors``, float32 ``[N, 128]``, the ``fc_no_bias`` output as ``loss_metric``
  returns it, *not* L2-normalised (dlib's descriptors are not either).

The model is written deterministically: the same ``.dat`` gives the same bytes, and the file's
SHA-256 is recorded in the model's metadata. Building it needs the ``onnx`` package (a dev
dependency), imported only inside :func:`convert`, so importing this module at run time does not.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from onnx import ModelProto, NodeProto, TensorProto

__all__ = ["CHIP_SIZE", "DESCRIPTOR_DIM", "INPUT_NAME", "OUTPUT_NAME", "ConversionError", "convert"]

CHIP_SIZE: Final = 150
"""Rows and columns of the aligned face chip the network takes (``input_rgb_image_sized<150>``)."""
DESCRIPTOR_DIM: Final = 128
"""Width of the face descriptor (``fc_no_bias<128>``)."""
INPUT_NAME: Final = "chips"
"""The model's input: uint8 ``[N, 150, 150, 3]`` RGB chips."""
OUTPUT_NAME: Final = "descriptors"
"""The model's output: float32 ``[N, 128]`` descriptors, as dlib computes them."""

_OPSET: Final = 17
_IR_VERSION: Final = 8
_PRODUCER: Final = "consentry.dlib_onnx"
_PRODUCER_VERSION: Final = "1"
_MAX_STRING: Final = 256
"""No version string in the file is longer; a longer length means the bytes are not a net."""

FloatArray = npt.NDArray[np.float32]


class ConversionError(ValueError):
    """The file is not dlib's face recognition ResNet as this converter knows it.

    The message names what differs (a version string, a hyper-parameter, a tensor shape, a
    truncated or over-long file) and the byte offset where it was found.
    """


# --------------------------------------------------------------------------------------------
# The architecture, in execution order (input first). Tag/skip/add_prev ids are not stored in
# the file, so the expected sequence below is what gives the parsed layers their meaning.


@dataclass(frozen=True)
class _Con:
    filters: int
    size: int
    stride: int

    @property
    def padding(self) -> int:
        """dlib's default: ``size // 2`` for stride 1, none otherwise."""
        return self.size // 2 if self.stride == 1 else 0


@dataclass(frozen=True)
class _Affine:
    pass


@dataclass(frozen=True)
class _Relu:
    pass


@dataclass(frozen=True)
class _MaxPool:
    size: int
    stride: int


@dataclass(frozen=True)
class _AvgPool:
    size: int
    """0 means the whole map (``avg_pool_everything``)."""
    stride: int


@dataclass(frozen=True)
class _Tag:
    id: int


@dataclass(frozen=True)
class _Skip:
    id: int


@dataclass(frozen=True)
class _AddPrev:
    id: int


@dataclass(frozen=True)
class _Fc:
    outputs: int


_Spec = _Con | _Affine | _Relu | _MaxPool | _AvgPool | _Tag | _Skip | _AddPrev | _Fc


def _block(filters: int, stride: int) -> list[_Spec]:
    return [_Con(filters, 3, stride), _Affine(), _Relu(), _Con(filters, 3, 1), _Affine()]


def _ares(filters: int) -> list[_Spec]:
    return [_Tag(1), *_block(filters, 1), _AddPrev(1), _Relu()]


def _ares_down(filters: int) -> list[_Spec]:
    return [
        _Tag(1),
        *_block(filters, 2),
        _Tag(2),
        _Skip(1),
        _AvgPool(2, 2),
        _AddPrev(2),
        _Relu(),
    ]


def _architecture() -> tuple[_Spec, ...]:
    layers: list[_Spec] = [_Con(32, 7, 2), _Affine(), _Relu(), _MaxPool(3, 2)]
    layers += _ares(32) * 3  # alevel4
    layers += _ares_down(64) + _ares(64) * 3  # alevel3
    layers += _ares_down(128) + _ares(128) * 2  # alevel2
    layers += _ares_down(256) + _ares(256) * 2  # alevel1
    layers += _ares_down(256)  # alevel0
    layers += [_AvgPool(0, 1), _Fc(DESCRIPTOR_DIM)]
    return tuple(layers)


_ARCHITECTURE: Final = _architecture()


# --------------------------------------------------------------------------------------------
# dlib's serialisation primitives (dlib/serialize.h, dlib/cuda/tensor.h).


class _Reader:
    """A cursor over the file's bytes that decodes dlib's primitives or raises ConversionError."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self.pos = 0

    def fail(self, message: str) -> NoReturn:
        raise ConversionError(f"{message} (at byte {self.pos} of {len(self._data)})")

    def _take(self, count: int, what: str) -> bytes:
        if self.pos + count > len(self._data):
            self.fail(f"file truncated while reading {what}")
        chunk = self._data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self, what: str) -> int:
        """dlib's integer: a control byte (size | 0x80 if negative), then size LE bytes."""
        control = self._take(1, what)[0]
        size = control & 0x0F
        if control & 0x70 or not 1 <= size <= 8:
            self.fail(f"bad integer control byte 0x{control:02x} for {what}")
        value = int.from_bytes(self._take(size, what), "little")
        return -value if control & 0x80 else value

    def unsigned(self, what: str) -> int:
        value = self.integer(what)
        if value < 0:
            self.fail(f"negative value {value} for unsigned {what}")
        return value

    def real(self, what: str) -> float:
        """dlib's float_details: int64 mantissa and int16 exponent, ``mantissa * 2**exponent``."""
        if self.pos < len(self._data) and self._data[self.pos] & 0x70:
            self.fail(f"{what} uses dlib's old text float format, which this file should not")
        mantissa = self.integer(what)
        exponent = self.integer(what)
        if exponent >= 32000:
            self.fail(f"{what} is infinite or NaN")
        return math.ldexp(mantissa, exponent)

    def boolean(self, what: str) -> bool:
        byte = self._take(1, what)
        if byte not in (b"0", b"1"):
            self.fail(f"bad boolean byte {byte!r} for {what}")
        return byte == b"1"

    def string(self, what: str) -> str:
        length = self.unsigned(what)
        if length > _MAX_STRING:
            self.fail(f"implausible string length {length} for {what}")
        raw = self._take(length, what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            self.fail(f"non-ASCII bytes {raw[:32]!r} for {what}")

    def version(self, what: str, allowed: tuple[str, ...]) -> str:
        found = self.string(f"{what} version")
        if found not in allowed:
            self.fail(f"expected {what} version {' or '.join(map(repr, allowed))}, found {found!r}")
        return found

    def int_version(self, what: str, low: int, high: int) -> int:
        found = self.integer(f"{what} version")
        if not low <= found <= high:
            self.fail(f"unsupported {what} version {found} (expected {low}..{high})")
        return found

    def tensor(self, what: str) -> FloatArray:
        """``resizable_tensor`` version 2: num_samples, k, nr, nc, then LE float32 values."""
        self.int_version(f"tensor {what}", 2, 2)
        shape = tuple(self.integer(f"{what} dimension") for _ in range(4))
        if min(shape) < 0:
            self.fail(f"negative dimension in tensor {what}: {shape}")
        count = math.prod(shape)
        raw = self._take(4 * count, f"the {count} values of tensor {what}")
        values = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
        if not np.isfinite(values).all():
            self.fail(f"tensor {what} holds infinite or NaN values")
        return values

    def alias(self, what: str) -> tuple[int, int, int, int]:
        """``alias_tensor`` version 1: only its four dimensions."""
        self.int_version(f"alias tensor {what}", 1, 1)
        n, k, nr, nc = (self.integer(f"{what} dimension") for _ in range(4))
        return (n, k, nr, nc)

    def end(self) -> None:
        if self.pos != len(self._data):
            self.fail(f"{len(self._data) - self.pos} unexpected bytes after the network")


# --------------------------------------------------------------------------------------------
# Layer details (dlib/dnn/layers.h, input.h, loss.h).


@dataclass(frozen=True)
class _ConParams:
    weights: FloatArray
    """``[filters, in_channels, size, size]``, as ONNX's Conv wants (dlib correlates too)."""
    bias: FloatArray


@dataclass(frozen=True)
class _AffineParams:
    gamma: FloatArray
    beta: FloatArray


@dataclass(frozen=True)
class _FcParams:
    weights: FloatArray
    """``[inputs, outputs]``: dlib's fc computes ``input @ weights``."""


@dataclass(frozen=True)
class _Input:
    means: FloatArray
    """Red, green and blue means subtracted before the division by 256."""


_Params = _ConParams | _AffineParams | _FcParams | bool | None
"""What a layer carries: weights, or for relu whether it is enabled; None for the rest."""


def _expect(reader: _Reader, what: str, found: object, expected: object) -> None:
    if found != expected:
        reader.fail(f"{what}: expected {expected}, found {found}")


def _read_con(reader: _Reader, spec: _Con, index: int) -> _ConParams:
    what = f"con layer {index}"
    version = reader.version(what, ("con_4", "con_5", "con_6"))
    params = reader.tensor(f"{what} params").reshape(-1)
    _expect(reader, f"{what} filters", reader.integer(f"{what} filters"), spec.filters)
    for name in ("rows", "columns"):
        _expect(reader, f"{what} {name}", reader.integer(f"{what} {name}"), spec.size)
    for name in ("row stride", "column stride"):
        _expect(reader, f"{what} {name}", reader.integer(f"{what} {name}"), spec.stride)
    for name in ("row padding", "column padding"):
        _expect(reader, f"{what} {name}", reader.integer(f"{what} {name}"), spec.padding)
    filters = reader.alias(f"{what} filters")
    biases = reader.alias(f"{what} biases")
    for name in ("learning rate", "weight decay", "bias learning rate", "bias weight decay"):
        reader.real(f"{what} {name} multiplier")
    use_bias = reader.boolean(f"{what} use_bias") if version != "con_4" else True
    if version == "con_6" and reader.boolean(f"{what} use_relu"):
        reader.fail(f"{what} has a fused relu, which this network never uses")
    count, channels, rows, columns = filters
    _expect(
        reader, f"{what} filter shape", (count, rows, columns), (spec.filters, spec.size, spec.size)
    )
    if channels <= 0:
        reader.fail(f"{what} has {channels} input channels")
    size = count * channels * rows * columns
    if use_bias:
        _expect(reader, f"{what} bias shape", biases, (1, spec.filters, 1, 1))
    _expect(
        reader, f"{what} parameter count", params.size, size + (spec.filters if use_bias else 0)
    )
    bias = params[size:] if use_bias else np.zeros(spec.filters, np.float32)
    return _ConParams(params[:size].reshape(filters), bias)


def _read_affine(reader: _Reader, index: int) -> _AffineParams:
    what = f"affine layer {index}"
    version = reader.version(what, ("affine_", "affine_2"))
    params = reader.tensor(f"{what} params").reshape(-1)
    gamma = reader.alias(f"{what} gamma")
    beta = reader.alias(f"{what} beta")
    _expect(reader, f"{what} mode (0 = convolutional)", reader.integer(f"{what} mode"), 0)
    disabled = version == "affine_2" and reader.boolean(f"{what} disabled")
    channels = gamma[1]
    _expect(reader, f"{what} gamma shape", gamma, (1, channels, 1, 1))
    _expect(reader, f"{what} beta shape", beta, gamma)
    _expect(reader, f"{what} parameter count", params.size, 2 * channels)
    if disabled:
        return _AffineParams(np.ones(channels, np.float32), np.zeros(channels, np.float32))
    return _AffineParams(params[:channels], params[channels:])


def _read_pool(reader: _Reader, spec: _MaxPool | _AvgPool, index: int) -> None:
    kind = "max_pool" if isinstance(spec, _MaxPool) else "avg_pool"
    what = f"{kind} layer {index}"
    reader.version(what, (f"{kind}_2",))
    for name in ("rows", "columns"):
        _expect(reader, f"{what} {name}", reader.integer(f"{what} {name}"), spec.size)
    for name in ("row stride", "column stride"):
        _expect(reader, f"{what} {name}", reader.integer(f"{what} {name}"), spec.stride)
    for name in ("row padding", "column padding"):
        _expect(reader, f"{what} {name}", reader.integer(f"{what} {name}"), 0)


def _read_fc(reader: _Reader, spec: _Fc, index: int) -> _FcParams:
    what = f"fc layer {index}"
    version = reader.version(what, ("fc_2", "fc_3"))
    _expect(reader, f"{what} outputs", reader.unsigned(f"{what} outputs"), spec.outputs)
    inputs = reader.unsigned(f"{what} inputs")
    params = reader.tensor(f"{what} params")
    weights = reader.alias(f"{what} weights")
    reader.alias(f"{what} biases")
    _expect(reader, f"{what} bias mode (1 = no bias)", reader.integer(f"{what} bias mode"), 1)
    for name in ("learning rate", "weight decay", "bias learning rate", "bias weight decay"):
        reader.real(f"{what} {name} multiplier")
    if version == "fc_3":
        reader.boolean(f"{what} use_bias")
    _expect(reader, f"{what} weight shape", weights, (inputs, spec.outputs, 1, 1))
    _expect(reader, f"{what} parameter count", params.size, inputs * spec.outputs)
    return _FcParams(params.reshape(inputs, spec.outputs))


def _read_details(reader: _Reader, spec: _Spec, index: int) -> _Params:
    if isinstance(spec, _Con):
        return _read_con(reader, spec, index)
    if isinstance(spec, _Affine):
        return _read_affine(reader, index)
    if isinstance(spec, _Relu):
        version = reader.version(f"relu layer {index}", ("relu_", "relu_2"))
        return not (version == "relu_2" and reader.boolean(f"relu layer {index} disabled"))
    if isinstance(spec, _MaxPool | _AvgPool):
        _read_pool(reader, spec, index)
        return None
    if isinstance(spec, _AddPrev):
        reader.version(f"add_prev layer {index}", ("add_prev_",))
        return None
    if isinstance(spec, _Fc):
        return _read_fc(reader, spec, index)
    raise AssertionError(f"tag and skip layers have no details: {spec}")  # pragma: no cover


def _read_layer_state(reader: _Reader, index: int, version: int, *, bottom: bool) -> None:
    """The training state ``add_layer`` stores after its details; inference ignores it."""
    what = f"layer {index}"
    for name in ("setup flag", "stale-gradient flag", "output-disabled flag"):
        reader.boolean(f"{what} {name}")
    reader.tensor(f"{what} x_grad")
    reader.tensor(f"{what} cached output")
    if bottom:
        reader.tensor(f"{what} grad_final")
        if version >= 3:
            reader.unsigned(f"{what} sample expansion factor")
    elif version >= 2:
        reader.tensor(f"{what} params_grad")


def _read_input(reader: _Reader) -> _Input:
    reader.version("input layer", ("input_rgb_image_sized",))
    means = np.array([reader.real(f"input layer {c} mean") for c in "rgb"], dtype=np.float32)
    for name in ("rows", "columns"):
        _expect(reader, f"input {name}", reader.unsigned(f"input {name}"), CHIP_SIZE)
    return _Input(means)


def _parse(data: bytes) -> tuple[_Input, list[_Params]]:
    """Decode the whole file: its input means and each layer's parameters in execution order.

    dlib writes a net outside-in: each ``add_layer`` writes its version, then its whole
    sub-network, then its own details and state, so the file holds every wrapper's version
    (loss layer first), then the input layer, then the layers' details from the input up.
    """
    reader = _Reader(data)
    reader.int_version("loss layer wrapper", 1, 1)
    loss = reader.version("loss layer", ("loss_metric_", "loss_metric_2"))
    if loss == "loss_metric_2":
        reader.real("loss margin")
        reader.real("loss distance threshold")
    versions: dict[int, int] = {}
    for index in range(len(_ARCHITECTURE) - 1, 0, -1):
        spec = _ARCHITECTURE[index]
        if isinstance(spec, _Tag | _Skip):
            reader.int_version(f"{type(spec).__name__[1:].lower()} layer {index}", 1, 1)
        else:
            versions[index] = reader.int_version(f"layer {index} wrapper", 1, 2)
    bottom_version = reader.int_version("input layer wrapper", 2, 3)
    image = _read_input(reader)
    params: list[_Params] = [_read_details(reader, _ARCHITECTURE[0], 0)]
    _read_layer_state(reader, 0, bottom_version, bottom=True)
    for index in range(1, len(_ARCHITECTURE)):
        spec = _ARCHITECTURE[index]
        if index in versions:
            params.append(_read_details(reader, spec, index))
            _read_layer_state(reader, index, versions[index], bottom=False)
        else:
            params.append(None)
    reader.end()
    return image, params


# --------------------------------------------------------------------------------------------
# The ONNX graph.


@dataclass(frozen=True)
class _Value:
    name: str
    shape: tuple[int, int, int]
    """Channels, rows, columns (the batch dimension is symbolic)."""


class _Graph:
    """Accumulates nodes and initializers with deterministic names."""

    def __init__(self) -> None:
        self.nodes: list[NodeProto] = []
        self.initializers: list[TensorProto] = []
        self._count = 0

    def name(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, stem: str, array: npt.NDArray[np.generic]) -> str:
        from onnx import numpy_helper

        name = self.name(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], stem: str, **attributes: Any) -> str:
        from onnx import helper

        output = self.name(stem)
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attributes))
        return output


def _zero_pad(graph: _Graph, value: _Value, shape: tuple[int, int, int]) -> str:
    """``value`` grown to ``shape`` with zeros after its channels, rows and columns."""
    if value.shape == shape:
        return value.name
    ends = [target - have for have, target in zip(value.shape, shape, strict=True)]
    pads = np.array([0, 0, 0, 0, 0, *ends], dtype=np.int64)
    return graph.node("Pad", [value.name, graph.constant("pads", pads)], "zero_pad")


def _build(image: _Input, params: list[_Params], source_sha256: str) -> ModelProto:
    from onnx import TensorProto, helper

    graph = _Graph()
    nchw = graph.node("Transpose", [INPUT_NAME], "nchw", perm=[0, 3, 1, 2])
    floats = graph.node("Cast", [nchw], "float", to=TensorProto.FLOAT)
    centred = graph.node(
        "Sub", [floats, graph.constant("means", image.means.reshape(1, 3, 1, 1))], "centred"
    )
    scale = np.array(1.0 / 256.0, dtype=np.float32)
    current = _Value(
        graph.node("Mul", [centred, graph.constant("scale", scale)], "input"),
        (3, CHIP_SIZE, CHIP_SIZE),
    )
    tags: dict[int, _Value] = {}
    index = 0
    while index < len(_ARCHITECTURE):
        spec, layer = _ARCHITECTURE[index], params[index]
        if isinstance(spec, _Con) and isinstance(layer, _ConParams):
            channels, rows, columns = current.shape
            if layer.weights.shape[1] != channels:
                raise ConversionError(
                    f"con layer {index} takes {layer.weights.shape[1]} channels but its input has"
                    f" {channels}"
                )
            weights, bias = layer.weights, layer.bias
            following = params[index + 1]
            if isinstance(following, _AffineParams):
                if following.gamma.size != spec.filters:
                    raise ConversionError(
                        f"affine layer {index + 1} has {following.gamma.size} channels after a"
                        f" convolution with {spec.filters} filters"
                    )
                weights = weights * following.gamma.reshape(-1, 1, 1, 1)
                bias = bias * following.gamma + following.beta
                index += 1
            pad = spec.padding
            conv = graph.node(
                "Conv",
                [current.name, graph.constant("W", weights), graph.constant("B", bias)],
                "conv",
                kernel_shape=[spec.size, spec.size],
                strides=[spec.stride, spec.stride],
                pads=[pad] * 4,
            )
            rows = (rows + 2 * pad - spec.size) // spec.stride + 1
            columns = (columns + 2 * pad - spec.size) // spec.stride + 1
            current = _Value(conv, (spec.filters, rows, columns))
        elif isinstance(spec, _Relu):
            if layer:
                current = _Value(graph.node("Relu", [current.name], "relu"), current.shape)
        elif isinstance(spec, _MaxPool | _AvgPool) and spec.size == 0:
            pooled = graph.node("GlobalAveragePool", [current.name], "global_avg_pool")
            current = _Value(pooled, (current.shape[0], 1, 1))
        elif isinstance(spec, _MaxPool | _AvgPool):
            op = "MaxPool" if isinstance(spec, _MaxPool) else "AveragePool"
            pooled = graph.node(
                op,
                [current.name],
                op.lower(),
                kernel_shape=[spec.size, spec.size],
                strides=[spec.stride, spec.stride],
            )
            channels, rows, columns = current.shape
            rows = (rows - spec.size) // spec.stride + 1
            columns = (columns - spec.size) // spec.stride + 1
            current = _Value(pooled, (channels, rows, columns))
        elif isinstance(spec, _Tag):
            tags[spec.id] = current
        elif isinstance(spec, _Skip):
            current = tags[spec.id]
        elif isinstance(spec, _AddPrev):
            other = tags[spec.id]
            shape = (
                max(current.shape[0], other.shape[0]),
                max(current.shape[1], other.shape[1]),
                max(current.shape[2], other.shape[2]),
            )
            added = graph.node(
                "Add", [_zero_pad(graph, current, shape), _zero_pad(graph, other, shape)], "add"
            )
            current = _Value(added, shape)
        elif isinstance(spec, _Fc) and isinstance(layer, _FcParams):
            inputs = math.prod(current.shape)
            if layer.weights.shape[0] != inputs:
                raise ConversionError(
                    f"fc layer {index} takes {layer.weights.shape[0]} inputs but its input has"
                    f" {inputs} values"
                )
            flat = graph.node("Flatten", [current.name], "flatten", axis=1)
            current = _Value(
                graph.node("MatMul", [flat, graph.constant("W", layer.weights)], OUTPUT_NAME),
                (spec.outputs, 1, 1),
            )
        else:  # pragma: no cover - _parse pairs every spec with its parameters
            raise AssertionError(f"layer {index}: {spec} with {type(layer).__name__}")
        index += 1
    graph.nodes.append(
        helper.make_node("Identity", [current.name], [OUTPUT_NAME], name=OUTPUT_NAME)
    )
    onnx_graph = helper.make_graph(
        graph.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.UINT8, ["N", CHIP_SIZE, CHIP_SIZE, 3]
            )
        ],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", DESCRIPTOR_DIM])],
        initializer=graph.initializers,
    )
    model = helper.make_model(
        onnx_graph,
        opset_imports=[helper.make_opsetid("", _OPSET)],
        producer_name=_PRODUCER,
        producer_version=_PRODUCER_VERSION,
        doc_string=(
            "dlib_face_recognition_resnet_model_v1 (public domain weights): 150x150 uint8 RGB"
            " face chips to 128-d descriptors, not L2-normalised."
        ),
    )
    model.ir_version = _IR_VERSION
    helper.set_model_props(model, {"source_sha256": source_sha256})
    return model


def convert(dat_path: Path, onnx_path: Path) -> None:
    """Parse dlib's ``.dat`` at ``dat_path`` and write the equivalent ONNX model to ``onnx_path``.

    Raises ``ConversionError`` (a ``ValueError``) naming what is wrong when the file is not
    dlib's face recognition ResNet v1. The output is byte-for-byte the same for the same input;
    it is written to a temporary file beside ``onnx_path`` and renamed into place, so a reader
    never sees half a model. Needs the ``onnx`` package.
    """
    import onnx

    data = dat_path.read_bytes()
    image, params = _parse(data)
    model = _build(image, params, hashlib.sha256(data).hexdigest())
    onnx.checker.check_model(model, full_check=True)
    payload = model.SerializeToString(deterministic=True)
    partial = onnx_path.with_name(f".{onnx_path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(payload)
        partial.replace(onnx_path)
    finally:
        partial.unlink(missing_ok=True)
