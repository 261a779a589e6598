"""Test-time augmentation exists once (facemotion.tta) and means the same on numpy arrays (ONNX
models) and torch tensors (checkpoints, the export)."""

import numpy as np
import pytest

from facemotion import tta


def test_views_by_mode():
    x = np.arange(2 * 1 * 6 * 6, dtype=np.float32).reshape(2, 1, 6, 6)
    assert len(tta.views(x, "none")) == 1 and len(tta.views(x, None)) == 1
    flip = tta.views(x, True)
    assert len(flip) == 2 and np.array_equal(flip[1], x[..., ::-1])
    ten = tta.views(x, "tencrop")
    assert len(ten) == 10 and all(v.shape == x.shape for v in ten)
    # a corner crop is the image shifted by 3 px with its edge repeated (a crop of the edge-padded image)
    padded = np.pad(x, [(0, 0), (0, 0), (3, 3), (3, 3)], mode="edge")
    assert np.array_equal(ten[1], padded[..., 0:6, 0:6]) and np.array_equal(ten[4], padded[..., 6:12, 6:12])
    assert np.array_equal(ten[5], x[..., ::-1])
    with pytest.raises(ValueError, match="unknown TTA mode"):
        tta.views(x, "twelve")


def test_numpy_and_torch_agree_and_one_stacked_call_equals_one_call_per_view():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 1, 48, 48)).astype(np.float32)
    w = rng.normal(size=(48 * 48, 7)).astype(np.float32)

    def model_np(v):
        return np.ascontiguousarray(v).reshape(len(v), -1) @ w

    def model_torch(v):
        return v.reshape(len(v), -1) @ torch.from_numpy(w)

    for mode in ("none", "flip", "tencrop"):
        a = tta.apply(model_np, x, mode)
        b = tta.apply(model_torch, torch.from_numpy(x), mode).numpy()
        c = tta.apply(model_torch, torch.from_numpy(x), mode, concat=torch.cat).numpy()
        d = tta.apply(model_np, x, mode, concat=np.concatenate)
        assert np.allclose(a, b, atol=1e-3) and np.allclose(b, c, atol=1e-3) and np.allclose(a, d, atol=1e-3)
