#!/usr/bin/env python3
"""Smoke-test the models that models/setup.sh put in place.

    python check_models.py [MODELS_DIR] [--photo PHOTO.jpg]

MODELS_DIR defaults to $VKYC_MODELS_DIR, else ~/.cache/vkyc/models. Needs onnxruntime,
numpy and pillow (pillow only for the photo check), e.g. in a throw-away venv:

    python3 -m venv /tmp/ortcheck && /tmp/ortcheck/bin/pip install onnxruntime==1.31.1 numpy pillow
    /tmp/ortcheck/bin/python models/check_models.py

For every model it prints the declared input/output names and shapes, runs it once on a
dummy input and checks the output shapes. It also:
  - loads the native libonnxruntime.so.* from MODELS_DIR with ctypes and prints its version
    (that is the file the Rust server loads);
  - runs YuNet at 640x640 and at 320x480 (the H/W dims are symbolic);
  - checks the OCR rec model carries its character dictionary (metadata key `character`);
  - runs YuNet on a real face photo (default: person_b_2.jpg from `models/setup.sh --photos`,
    in ${VKYC_CACHE:-~/.cache/vkyc-test}/photos/) and requires a face score > 0.8.
Exits non-zero on the first failed check.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

FILES = {
    "yunet": "face_detection_yunet_2023mar.onnx",
    "sface": "face_recognition_sface_2021dec.onnx",
    "ocr_det": "ch_PP-OCRv4_det_infer.onnx",
    "ocr_rec": "ch_PP-OCRv4_rec_infer.onnx",
    "liveness": "fr_liveness.onnx",
}
STRIDES = (8, 16, 32)


def fail(msg: str) -> None:
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def session(path: Path) -> ort.InferenceSession:
    if not path.is_file():
        fail(f"{path} is missing (run models/setup.sh)")
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    print(f"\n== {path.name}")
    for i in s.get_inputs():
        print(f"   input  {i.name!r:24} {i.shape} {i.type}")
    for o in s.get_outputs():
        print(f"   output {o.name!r:24} {o.shape} {o.type}")
    return s


def run(s: ort.InferenceSession, x: np.ndarray) -> dict[str, np.ndarray]:
    name = s.get_inputs()[0].name
    outs = s.run(None, {name: x})
    res = {o.name: v for o, v in zip(s.get_outputs(), outs)}
    print(f"   run {list(x.shape)} -> " + ", ".join(f"{k} {list(v.shape)}" for k, v in res.items()))
    return res


def expect(res: dict[str, np.ndarray], name: str, shape: list[int]) -> None:
    if name not in res:
        fail(f"output {name!r} missing (have {list(res)})")
    if list(res[name].shape) != shape:
        fail(f"output {name!r} has shape {list(res[name].shape)}, expected {shape}")


def check_native_lib(d: Path) -> None:
    libs = sorted(d.glob("libonnxruntime.so.*"))
    if not libs:
        fail(f"no libonnxruntime.so.* in {d}")

    class OrtApiBase(ctypes.Structure):
        _fields_ = [("GetApi", ctypes.c_void_p),
                    ("GetVersionString", ctypes.CFUNCTYPE(ctypes.c_char_p))]

    lib = ctypes.CDLL(str(libs[-1]))
    lib.OrtGetApiBase.restype = ctypes.POINTER(OrtApiBase)
    version = lib.OrtGetApiBase().contents.GetVersionString().decode()
    print(f"== {libs[-1].name}: loads, ONNX Runtime version {version}")


def yunet_best(res: dict[str, np.ndarray], h: int, w: int):
    """Best face of a YuNet output: (score, [x0, y0, x1, y1]) in input pixels.
    score = cls * obj (both already sigmoid-ed in the model); boxes are decoded the way
    OpenCV's FaceDetectorYN does: centre = (anchor + d) * stride, size = exp(d) * stride."""
    best = (-1.0, None, 0)
    for s in STRIDES:
        cols = w // s
        score = (res[f"cls_{s}"][0, :, 0] * res[f"obj_{s}"][0, :, 0])
        i = int(np.argmax(score))
        if score[i] > best[0]:
            b = res[f"bbox_{s}"][0, i]
            cx, cy = (i % cols + b[0]) * s, (i // cols + b[1]) * s
            bw, bh = np.exp(b[2]) * s, np.exp(b[3]) * s
            best = (float(score[i]), [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], s)
    return best


def main() -> int:
    default_dir = os.environ.get("VKYC_MODELS_DIR") or str(Path.home() / ".cache/vkyc/models")
    default_photo = Path(os.environ.get("VKYC_CACHE") or Path.home() / ".cache/vkyc-test") \
        / "photos" / "person_b_2.jpg"
    ap = argparse.ArgumentParser(description="smoke-test the vkyc models")
    ap.add_argument("models_dir", nargs="?", default=default_dir)
    ap.add_argument("--photo", default=str(default_photo),
                    help="a face photo for the YuNet detection check (skipped if missing)")
    args = ap.parse_args()
    d = Path(args.models_dir)
    print(f"onnxruntime (python) {ort.__version__}, models in {d}")

    check_native_lib(d)

    # --- YuNet: BGR 0..255, NCHW, H and W multiples of 32 ---------------------------
    s = session(d / FILES["yunet"])
    for h, w in ((640, 640), (320, 480)):
        res = run(s, np.zeros((1, 3, h, w), np.float32))
        for st in STRIDES:
            n = (h // st) * (w // st)
            for head, k in (("cls", 1), ("obj", 1), ("bbox", 4), ("kps", 10)):
                expect(res, f"{head}_{st}", [1, n, k])
    yunet = s

    # --- SFace: aligned 112x112 RGB 0..255 -> 128-d embedding -----------------------
    s = session(d / FILES["sface"])
    res = run(s, np.zeros((1, 3, 112, 112), np.float32))
    expect(res, "fc1", [1, 128])

    # --- PP-OCRv4 det: (x/255-0.5)/0.5, H/W multiples of 32 -> probability map ------
    s = session(d / FILES["ocr_det"])
    res = run(s, np.zeros((1, 3, 640, 640), np.float32))
    (name, v), = res.items()
    if list(v.shape) != [1, 1, 640, 640]:
        fail(f"det output {name} has shape {list(v.shape)}, expected [1, 1, 640, 640]")

    # --- PP-OCRv4 rec: height 48 -> [N, W/8, 6625] softmax, dictionary in metadata ---
    s = session(d / FILES["ocr_rec"])
    res = run(s, np.zeros((1, 3, 48, 320), np.float32))
    (name, v), = res.items()
    if list(v.shape) != [1, 40, 6625]:
        fail(f"rec output {name} has shape {list(v.shape)}, expected [1, 40, 6625]")
    meta = s.get_modelmeta().custom_metadata_map
    if "character" not in meta:
        fail(f"rec model metadata has no 'character' key (keys: {list(meta)})")
    chars = meta["character"].splitlines()
    print(f"   metadata 'character': {len(chars)} entries "
          f"(+ blank first + space last = {len(chars) + 2} classes)")
    if len(chars) + 2 != v.shape[2]:
        fail(f"{len(chars)} characters + 2 != {v.shape[2]} classes")

    # --- liveness: face box x2.7 crop, 128x128 RGB 0..255 -> 3 classes (0 = live) ----
    s = session(d / FILES["liveness"])
    res = run(s, np.zeros((1, 3, 128, 128), np.float32))
    (name, v), = res.items()
    if list(v.shape) != [1, 3]:
        fail(f"liveness output {name} has shape {list(v.shape)}, expected [1, 3]")
    print(f"   raw output {np.round(v[0], 4).tolist()} (sum {v.sum():.4f}; "
          f"{'already softmax' if abs(v.sum() - 1) < 1e-3 else 'logits: apply softmax'})")

    # --- YuNet on a real photo -------------------------------------------------------
    photo = Path(args.photo)
    if not photo.is_file():
        print(f"\nskipped the photo check: {photo} not found (run models/setup.sh --photos)")
    else:
        from PIL import Image

        img = Image.open(photo).convert("RGB")
        scale = 640 / max(img.size)
        rw, rh = round(img.width * scale), round(img.height * scale)
        canvas = np.zeros((640, 640, 3), np.float32)            # pad right/bottom with 0
        canvas[:rh, :rw] = np.asarray(img.resize((rw, rh), Image.BILINEAR), np.float32)
        x = canvas[:, :, ::-1].transpose(2, 0, 1)[None].copy()  # RGB -> BGR, HWC -> NCHW
        print(f"\n== YuNet on {photo.name} ({img.width}x{img.height} -> {rw}x{rh}, padded to 640x640)")
        res = run(yunet, x)
        score, box, stride = yunet_best(res, 640, 640)
        box_orig = [round(c / scale) for c in box]
        print(f"   best cls*obj = {score:.3f} at stride {stride}, box (original pixels) "
              f"x0,y0,x1,y1 = {box_orig}")
        if score <= 0.8:
            fail(f"no confident face in {photo.name}: best score {score:.3f} <= 0.8")

    print("\nall model checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
