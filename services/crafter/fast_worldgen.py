"""Crafter's world generation, vectorised with numpy: the same worlds, bit for bit, several times faster.

Why: crafter 1.8.3 (``crafter.worldgen.generate_world``) builds a 64x64 world cell by cell and calls
opensimplex 0.3's pure-Python ``noise3d`` 5 to 13 times per cell: ~0.2 s a world, 68 % of it noise,
which is most of the time of building the demo DB (bench/RESULTS.md, "Demo DB"). Here each distinct
noise call of crafter's ``_set_material`` (a fixed z and scale per call site) is computed over the
grid in two batches (the second only on the cells where crafter's branches may use it; ~30 ms a
world in all, bench/RESULTS.md) by :func:`noise3d`, a numpy port of ``OpenSimplex.noise3d`` that performs the same
float64 operations in the same order, branch by branch (numpy's ``+ - * /``, ``floor`` and ``sqrt``
round exactly as Python's floats do, so every value is bit-identical). crafter's per-cell decisions
then run over those grids, with the world's RNG drawn exactly as crafter draws it: the same
``uniform()`` values in the same order (taken as one block, then the generator is put back and
advanced by the number crafter would have used), objects added in the same order. ``np.exp`` is
called per cell on the same numpy scalars as crafter calls it (numpy's vectorised ``exp`` may
round differently from its scalar call on some CPUs). The result is the same world: material
map, objects and RNG state (tests/services/crafter/test_fast_worldgen.py compares whole worlds).

Safety: :func:`generate_world` uses this port only with the crafter and opensimplex versions it was
verified against (:data:`VERIFIED_VERSIONS`) and when a self-check passes (our noise equals
opensimplex's on a fixed set of points, bit for bit); otherwise it calls crafter's own generator.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Callable
from typing import Any

import numpy as np
import opensimplex  # type: ignore[import-untyped]
from crafter import constants, objects, worldgen  # type: ignore[import-untyped]
from opensimplex import opensimplex as _simplex_module

#: The package versions whose generators this port reproduces (checked at first use).
VERIFIED_VERSIONS: dict[str, str] = {"crafter": "1.8.3", "opensimplex": "0.3"}

_Array = np.ndarray[Any, Any]

_STRETCH: float = _simplex_module.STRETCH_CONSTANT_3D
_SQUISH: float = _simplex_module.SQUISH_CONSTANT_3D
#: ``2 * SQUISH_CONSTANT_3D`` and ``3 * ...`` evaluated as opensimplex evaluates them (constant first).
_SQUISH2: float = 2 * _SQUISH
_SQUISH3: float = 3 * _SQUISH
_NORM: int = _simplex_module.NORM_CONSTANT_3D
_GRADIENTS: _Array = np.array(_simplex_module.GRADIENTS_3D, dtype=np.float64)


class _Lattice:
    """One OpenSimplex generator's permutation, and its gradient per lattice hash, as numpy arrays."""

    def __init__(self, simplex: Any) -> None:
        self.perm = np.array(simplex._perm, dtype=np.int64)
        #: ``GRADIENTS_3D[index:index + 3]`` for ``index = _perm_grad_index_3D[hash]``, by hash.
        index = np.array(simplex._perm_grad_index_3D, dtype=np.int64)
        self.gx, self.gy, self.gz = _GRADIENTS[index], _GRADIENTS[index + 1], _GRADIENTS[index + 2]

    def add(self, value: _Array, xsv: _Array, ysv: _Array, zsv: _Array, dx: _Array, dy: _Array, dz: _Array) -> _Array:
        """``value`` plus one lattice point's contribution where its attenuation is positive.

        The same expression as opensimplex's ``attn *= attn; value += attn * attn * extrapolate(...)``.
        """
        attn = 2 - dx * dx - dy * dy - dz * dz
        live = attn > 0
        attn = attn * attn
        perm = self.perm
        hashed = (perm[(perm[xsv & 0xFF] + ysv) & 0xFF] + zsv) & 0xFF
        extrapolated = self.gx[hashed] * dx + self.gy[hashed] * dy + self.gz[hashed] * dz
        return np.where(live, value + attn * attn * extrapolated, value)


def _pick(conditions: list[_Array], choices: list[tuple[Any, ...]], default: tuple[Any, ...]) -> list[_Array]:
    """Per element, the first choice whose condition holds (else ``default``), component by component."""
    picked = list(default)
    for condition, choice in zip(reversed(conditions), reversed(choices), strict=True):
        picked = [np.where(condition, option, part) for option, part in zip(choice, picked, strict=True)]
    return picked


def noise3d(simplex: Any, x: _Array, y: _Array, z: _Array) -> _Array:
    """``simplex.noise3d(x[i], y[i], z[i])`` for every i (1-d float64 arrays of one length), bit-identical.

    A transcription of opensimplex 0.3's ``OpenSimplex.noise3d``: the three regions (tetrahedron at
    (0,0,0), tetrahedron at (1,1,1), octahedron between) are computed on their own points, each
    ``if`` becomes a selection between the branches' values, each expression keeps its operand order,
    and contributions are summed in the same order (the region's vertices, then the two extra ones).
    """
    lattice = _Lattice(simplex)
    stretch_offset = (x + y + z) * _STRETCH
    xs = x + stretch_offset
    ys = y + stretch_offset
    zs = z + stretch_offset
    xsb_f = np.floor(xs)
    ysb_f = np.floor(ys)
    zsb_f = np.floor(zs)
    squish_offset = (xsb_f + ysb_f + zsb_f) * _SQUISH
    xb = xsb_f + squish_offset
    yb = ysb_f + squish_offset
    zb = zsb_f + squish_offset
    xins = xs - xsb_f
    yins = ys - ysb_f
    zins = zs - zsb_f
    in_sum = xins + yins + zins
    dx0 = x - xb
    dy0 = y - yb
    dz0 = z - zb
    xsb = xsb_f.astype(np.int64)
    ysb = ysb_f.astype(np.int64)
    zsb = zsb_f.astype(np.int64)

    value = np.zeros(x.shape, dtype=np.float64)
    first = in_sum <= 1
    second = ~first & (in_sum >= 2)
    middle = ~first & ~second
    for region, mask in ((_region_first, first), (_region_second, second), (_region_middle, middle)):
        if mask.any():
            args = (xsb[mask], ysb[mask], zsb[mask], xins[mask], yins[mask], zins[mask], in_sum[mask])
            value[mask] = _with_extra_vertices(lattice, *region(lattice, *args, dx0[mask], dy0[mask], dz0[mask]))
    result: _Array = value / _NORM
    return result


def _with_extra_vertices(lattice: _Lattice, value: _Array, svs: list[_Array], ds: list[_Array]) -> _Array:
    """The region's sum plus the first extra vertex's contribution, then the second's."""
    value = lattice.add(value, svs[0], svs[1], svs[2], ds[0], ds[1], ds[2])
    return lattice.add(value, svs[3], svs[4], svs[5], ds[3], ds[4], ds[5])


_Region = tuple[_Array, list[_Array], list[_Array]]


def _region_first(
    lattice: _Lattice,
    xsb: _Array,
    ysb: _Array,
    zsb: _Array,
    xins: _Array,
    yins: _Array,
    zins: _Array,
    in_sum: _Array,
    dx0: _Array,
    dy0: _Array,
    dz0: _Array,
) -> _Region:
    """Inside the tetrahedron at (0,0,0): ``in_sum <= 1``."""
    s, s2 = _SQUISH, _SQUISH2
    a_score, b_score = xins, yins
    to_b = (a_score >= b_score) & (zins > b_score)
    to_a = ~to_b & (a_score < b_score) & (zins > a_score)
    b_score = np.where(to_b, zins, b_score)
    b_point = np.where(to_b, 0x04, 0x02)
    a_score = np.where(to_a, zins, a_score)
    a_point = np.where(to_a, 0x04, 0x01)
    wins = 1 - in_sum
    near = (wins > a_score) | (wins > b_score)

    # (0,0,0) is one of the closest two tetrahedral vertices.
    c = np.where(b_score > a_score, b_point, a_point)
    cx, cy, cz = (c & 0x01) == 0, (c & 0x02) == 0, (c & 0x04) == 0
    near_sv = (
        np.where(cx, xsb - 1, xsb + 1),
        np.where(cy, np.where(cx, ysb, ysb - 1), ysb + 1),
        np.where(cz, zsb, zsb + 1),
        np.where(cx, xsb, xsb + 1),
        np.where(cy, np.where(cx, ysb - 1, ysb), ysb + 1),
        np.where(cz, zsb - 1, zsb + 1),
    )
    near_d = (
        np.where(cx, dx0 + 1, dx0 - 1),
        np.where(cy, np.where(cx, dy0, dy0 + 1), dy0 - 1),
        np.where(cz, dz0, dz0 - 1),
        np.where(cx, dx0, dx0 - 1),
        np.where(cy, np.where(cx, dy0 + 1, dy0), dy0 - 1),
        np.where(cz, dz0 + 1, dz0 - 1),
    )
    # (0,0,0) is not: the two extra vertices follow from the closest two.
    c = a_point | b_point
    cx, cy, cz = (c & 0x01) == 0, (c & 0x02) == 0, (c & 0x04) == 0
    far_sv = (
        np.where(cx, xsb, xsb + 1),
        np.where(cy, ysb, ysb + 1),
        np.where(cz, zsb, zsb + 1),
        np.where(cx, xsb - 1, xsb + 1),
        np.where(cy, ysb - 1, ysb + 1),
        np.where(cz, zsb - 1, zsb + 1),
    )
    far_d = (
        np.where(cx, dx0 - s2, dx0 - 1 - s2),
        np.where(cy, dy0 - s2, dy0 - 1 - s2),
        np.where(cz, dz0 - s2, dz0 - 1 - s2),
        np.where(cx, dx0 + 1 - s, dx0 - 1 - s),
        np.where(cy, dy0 + 1 - s, dy0 - 1 - s),
        np.where(cz, dz0 + 1 - s, dz0 - 1 - s),
    )
    svs = _pick([near], [near_sv], far_sv)
    ds = _pick([near], [near_d], far_d)

    value = np.zeros(xsb.shape, dtype=np.float64)
    value = lattice.add(value, xsb + 0, ysb + 0, zsb + 0, dx0, dy0, dz0)
    dx1 = dx0 - 1 - s
    dy1 = dy0 - 0 - s
    dz1 = dz0 - 0 - s
    value = lattice.add(value, xsb + 1, ysb + 0, zsb + 0, dx1, dy1, dz1)
    dx2 = dx0 - 0 - s
    dy2 = dy0 - 1 - s
    dz2 = dz1
    value = lattice.add(value, xsb + 0, ysb + 1, zsb + 0, dx2, dy2, dz2)
    dx3 = dx2
    dy3 = dy1
    dz3 = dz0 - 1 - s
    value = lattice.add(value, xsb + 0, ysb + 0, zsb + 1, dx3, dy3, dz3)
    return value, svs, ds


def _region_second(
    lattice: _Lattice,
    xsb: _Array,
    ysb: _Array,
    zsb: _Array,
    xins: _Array,
    yins: _Array,
    zins: _Array,
    in_sum: _Array,
    dx0: _Array,
    dy0: _Array,
    dz0: _Array,
) -> _Region:
    """Inside the tetrahedron at (1,1,1): ``in_sum >= 2``."""
    s, s2, s3 = _SQUISH, _SQUISH2, _SQUISH3
    a_score, b_score = xins, yins
    to_b = (a_score <= b_score) & (zins < b_score)
    to_a = ~to_b & (a_score > b_score) & (zins < a_score)
    b_score = np.where(to_b, zins, b_score)
    b_point = np.where(to_b, 0x03, 0x05)
    a_score = np.where(to_a, zins, a_score)
    a_point = np.where(to_a, 0x03, 0x06)
    wins = 3 - in_sum
    near = (wins < a_score) | (wins < b_score)

    # (1,1,1) is one of the closest two tetrahedral vertices.
    c = np.where(b_score < a_score, b_point, a_point)
    cx, cy, cz = (c & 0x01) != 0, (c & 0x02) != 0, (c & 0x04) != 0
    dy_shared = dy0 - 1 - s3  # ``dy_ext0 = dy_ext1 = dy0 - 1 - 3 * SQUISH``, then one of them ``-= 1``
    near_sv = (
        np.where(cx, xsb + 2, xsb),
        np.where(cy, np.where(cx, ysb + 1, ysb + 2), ysb),
        np.where(cz, zsb + 1, zsb),
        np.where(cx, xsb + 1, xsb),
        np.where(cy, np.where(cx, ysb + 2, ysb + 1), ysb),
        np.where(cz, zsb + 2, zsb),
    )
    near_d = (
        np.where(cx, dx0 - 2 - s3, dx0 - s3),
        np.where(cy, np.where(cx, dy_shared, dy_shared - 1), dy0 - s3),
        np.where(cz, dz0 - 1 - s3, dz0 - s3),
        np.where(cx, dx0 - 1 - s3, dx0 - s3),
        np.where(cy, np.where(cx, dy_shared - 1, dy_shared), dy0 - s3),
        np.where(cz, dz0 - 2 - s3, dz0 - s3),
    )
    # (1,1,1) is not: the two extra vertices follow from the closest two.
    c = a_point & b_point
    cx, cy, cz = (c & 0x01) != 0, (c & 0x02) != 0, (c & 0x04) != 0
    far_sv = (
        np.where(cx, xsb + 1, xsb),
        np.where(cy, ysb + 1, ysb),
        np.where(cz, zsb + 1, zsb),
        np.where(cx, xsb + 2, xsb),
        np.where(cy, ysb + 2, ysb),
        np.where(cz, zsb + 2, zsb),
    )
    far_d = (
        np.where(cx, dx0 - 1 - s, dx0 - s),
        np.where(cy, dy0 - 1 - s, dy0 - s),
        np.where(cz, dz0 - 1 - s, dz0 - s),
        np.where(cx, dx0 - 2 - s2, dx0 - s2),
        np.where(cy, dy0 - 2 - s2, dy0 - s2),
        np.where(cz, dz0 - 2 - s2, dz0 - s2),
    )
    svs = _pick([near], [near_sv], far_sv)
    ds = _pick([near], [near_d], far_d)

    value = np.zeros(xsb.shape, dtype=np.float64)
    dx3 = dx0 - 1 - s2
    dy3 = dy0 - 1 - s2
    dz3 = dz0 - 0 - s2
    value = lattice.add(value, xsb + 1, ysb + 1, zsb + 0, dx3, dy3, dz3)
    dx2 = dx3
    dy2 = dy0 - 0 - s2
    dz2 = dz0 - 1 - s2
    value = lattice.add(value, xsb + 1, ysb + 0, zsb + 1, dx2, dy2, dz2)
    dx1 = dx0 - 0 - s2
    dy1 = dy3
    dz1 = dz2
    value = lattice.add(value, xsb + 0, ysb + 1, zsb + 1, dx1, dy1, dz1)
    value = lattice.add(value, xsb + 1, ysb + 1, zsb + 1, dx0 - 1 - s3, dy0 - 1 - s3, dz0 - 1 - s3)
    return value, svs, ds


def _region_middle(
    lattice: _Lattice,
    xsb: _Array,
    ysb: _Array,
    zsb: _Array,
    xins: _Array,
    yins: _Array,
    zins: _Array,
    in_sum: _Array,
    dx0: _Array,
    dy0: _Array,
    dz0: _Array,
) -> _Region:
    """Inside the octahedron between the two tetrahedra."""
    s, s2, s3 = _SQUISH, _SQUISH2, _SQUISH3
    p1 = xins + yins
    a_further = p1 > 1
    a_score = np.where(a_further, p1 - 1, 1 - p1)
    a_point = np.where(a_further, 0x03, 0x04)
    p2 = xins + zins
    b_further = p2 > 1
    b_score = np.where(b_further, p2 - 1, 1 - p2)
    b_point = np.where(b_further, 0x05, 0x02)
    p3 = yins + zins
    p3_further = p3 > 1
    score = np.where(p3_further, p3 - 1, 1 - p3)
    replace_a = (a_score <= b_score) & (a_score < score)
    replace_b = ~replace_a & (a_score > b_score) & (b_score < score)
    p3_point = np.where(p3_further, 0x06, 0x01)
    a_point = np.where(replace_a, p3_point, a_point)
    a_further = np.where(replace_a, p3_further, a_further)
    b_point = np.where(replace_b, p3_point, b_point)
    b_further = np.where(replace_b, p3_further, b_further)

    same_side = a_further == b_further
    both_further = same_side & a_further
    both_nearer = same_side & ~a_further

    # Both closest points on the (1,1,1) side: (1,1,1), and one by the shared axis.
    c = a_point & b_point
    c1, c2 = (c & 0x01) != 0, (c & 0x02) != 0
    further = _pick(
        [c1, c2],
        [
            (xsb + 2, ysb, zsb, dx0 - 2 - s2, dy0 - s2, dz0 - s2),
            (xsb, ysb + 2, zsb, dx0 - s2, dy0 - 2 - s2, dz0 - s2),
        ],
        (xsb, ysb, zsb + 2, dx0 - s2, dy0 - s2, dz0 - 2 - s2),
    )
    further_ext0 = (xsb + 1, ysb + 1, zsb + 1, dx0 - 1 - s3, dy0 - 1 - s3, dz0 - 1 - s3)
    # Both on the (0,0,0) side: (0,0,0), and one by the omitted axis.
    c = a_point | b_point
    c1, c2 = (c & 0x01) == 0, (c & 0x02) == 0
    nearer = _pick(
        [c1, c2],
        [
            (xsb - 1, ysb + 1, zsb + 1, dx0 + 1 - s, dy0 - 1 - s, dz0 - 1 - s),
            (xsb + 1, ysb - 1, zsb + 1, dx0 - 1 - s, dy0 + 1 - s, dz0 - 1 - s),
        ],
        (xsb + 1, ysb + 1, zsb - 1, dx0 - 1 - s, dy0 - 1 - s, dz0 + 1 - s),
    )
    nearer_ext0 = (xsb, ysb, zsb, dx0, dy0, dz0)
    # One on each side: a permutation of (1,1,-1) and one of (0,0,2).
    point1 = np.where(a_further, a_point, b_point)
    point2 = np.where(a_further, b_point, a_point)
    c1, c2 = (point1 & 0x01) == 0, (point1 & 0x02) == 0
    mixed0 = _pick(
        [c1, c2],
        [
            (xsb - 1, ysb + 1, zsb + 1, dx0 + 1 - s, dy0 - 1 - s, dz0 - 1 - s),
            (xsb + 1, ysb - 1, zsb + 1, dx0 - 1 - s, dy0 + 1 - s, dz0 - 1 - s),
        ],
        (xsb + 1, ysb + 1, zsb - 1, dx0 - 1 - s, dy0 - 1 - s, dz0 + 1 - s),
    )
    c1, c2 = (point2 & 0x01) != 0, (point2 & 0x02) != 0
    dx_e, dy_e, dz_e = dx0 - s2, dy0 - s2, dz0 - s2  # then one of them ``-= 2``
    mixed1 = _pick(
        [c1, c2],
        [(xsb + 2, ysb, zsb, dx_e - 2, dy_e, dz_e), (xsb, ysb + 2, zsb, dx_e, dy_e - 2, dz_e)],
        (xsb, ysb, zsb + 2, dx_e, dy_e, dz_e - 2),
    )
    ext0 = _pick([both_further, both_nearer], [further_ext0, nearer_ext0], tuple(mixed0))
    ext1 = _pick([both_further, both_nearer], [tuple(further), tuple(nearer)], tuple(mixed1))
    svs = ext0[:3] + ext1[:3]
    ds = ext0[3:] + ext1[3:]

    value = np.zeros(xsb.shape, dtype=np.float64)
    dx1 = dx0 - 1 - s
    dy1 = dy0 - 0 - s
    dz1 = dz0 - 0 - s
    value = lattice.add(value, xsb + 1, ysb + 0, zsb + 0, dx1, dy1, dz1)
    dx2 = dx0 - 0 - s
    dy2 = dy0 - 1 - s
    dz2 = dz1
    value = lattice.add(value, xsb + 0, ysb + 1, zsb + 0, dx2, dy2, dz2)
    dx3 = dx2
    dy3 = dy1
    dz3 = dz0 - 1 - s
    value = lattice.add(value, xsb + 0, ysb + 0, zsb + 1, dx3, dy3, dz3)
    dx4 = dx0 - 1 - s2
    dy4 = dy0 - 1 - s2
    dz4 = dz0 - 0 - s2
    value = lattice.add(value, xsb + 1, ysb + 1, zsb + 0, dx4, dy4, dz4)
    dx5 = dx4
    dy5 = dy0 - 0 - s2
    dz5 = dz0 - 1 - s2
    value = lattice.add(value, xsb + 1, ysb + 0, zsb + 1, dx5, dy5, dz5)
    dx6 = dx0 - 0 - s2
    dy6 = dy4
    dz6 = dz5
    value = lattice.add(value, xsb + 0, ysb + 1, zsb + 1, dx6, dy6, dz6)
    return value, svs, ds


#: crafter's ``_set_material`` noise call sites: name -> (x scale, y scale, z, size), read as
#: ``simplex.noise3d((x * x_scale) / size, (y * y_scale) / size, z)`` where a scale of ``-5`` stands
#: for crafter's ``x / 5`` (``2 * x`` and ``x / 5`` are how its tunnels stretch the map).
_CALLS: dict[str, tuple[int, int, int, int]] = {
    "start": (1, 1, 8, 3),
    "water15": (1, 1, 3, 15),
    "water5": (1, 1, 3, 5),
    "mountain15": (1, 1, 0, 15),
    "mountain5": (1, 1, 0, 5),
    "cave": (1, 1, 6, 7),
    "horizontal": (2, -5, 7, 3),
    "vertical": (-5, 2, 7, 3),
    "coal": (1, 1, 1, 8),
    "iron": (1, 1, 2, 6),
    "lava": (1, 1, 6, 5),
    "sand": (1, 1, 4, 9),
    "tree": (1, 1, 5, 7),
}


def _coordinate(cells: _Array, scale: int, size: int) -> _Array:
    """crafter's ``x / size``, ``2 * x / size`` or ``x / 5 / size`` for integer cell coordinates."""
    if scale == -5:
        scaled: _Array = cells / 5
        return scaled / size
    scaled = cells * scale
    return scaled / size


def _weighted(noises: list[tuple[float, _Array]], normalize: bool) -> _Array:
    """crafter's ``_simplex`` sum over sizes: ``value = 0; value += weight * noise; value /= sum(weights)``."""
    value: Any = 0
    for weight, noise in noises:
        value = value + weight * noise
    if normalize:
        value = value / sum(weight for weight, _ in noises)
    result: _Array = value
    return result


class _Draws:
    """The world RNG's next ``uniform()`` values, drawn as one block of at most ``bound``.

    :meth:`finish` puts the generator back and draws exactly the ``used`` values again, so it ends
    where crafter's one-by-one ``uniform()`` calls would have left it.
    """

    def __init__(self, rng: np.random.RandomState, bound: int) -> None:
        self._rng = rng
        self._state = rng.get_state()
        self.values: list[float] = rng.uniform(size=bound).tolist()
        self.used = 0

    def finish(self) -> None:
        self._rng.set_state(self._state)
        if self.used:
            self._rng.uniform(size=self.used)


class _Grids:
    """The cells of one world as flat (x-major, crafter's loop order) arrays, and noise on them."""

    def __init__(self, simplex: Any, area: tuple[int, int]) -> None:
        self.simplex = simplex
        xs, ys = np.meshgrid(np.arange(area[0]), np.arange(area[1]), indexing="ij")
        self.xs: _Array = xs.ravel()
        self.ys: _Array = ys.ravel()

    def noise(self, wanted: dict[str, _Array | None]) -> dict[str, _Array]:
        """Each call site's noise at every cell, or where its mask holds (NaN elsewhere), in one batch."""
        xs, ys, zs, cells = [], [], [], []
        for name, where in wanted.items():
            x_scale, y_scale, z, size = _CALLS[name]
            chosen = np.arange(self.xs.size) if where is None else np.flatnonzero(where)
            xs.append(_coordinate(self.xs[chosen], x_scale, size))
            ys.append(_coordinate(self.ys[chosen], y_scale, size))
            zs.append(np.full(chosen.size, float(z)))
            cells.append(chosen)
        values = noise3d(self.simplex, np.concatenate(xs), np.concatenate(ys), np.concatenate(zs))
        grids, offset = {}, 0
        for name, chosen in zip(wanted, cells, strict=True):
            grid = np.full(self.xs.shape, np.nan)
            grid[chosen] = values[offset : offset + chosen.size]
            grids[name] = grid
            offset += chosen.size
        return grids


def _generate(world: Any, player: Any) -> None:
    """crafter's ``generate_world`` over whole grids (see the module docstring)."""
    simplex = opensimplex.OpenSimplex(seed=world.random.randint(0, 2**31 - 1))
    grids = _Grids(simplex, world.area)
    xs, ys = grids.xs, grids.ys
    player_x, player_y = player.pos[0], player.pos[1]
    dist = np.sqrt((xs - player_x) ** 2 + (ys - player_y) ** 2)

    # _set_material, its noise and arithmetic for every cell.
    noise = grids.noise(dict.fromkeys(("start", "water15", "water5", "mountain15", "mountain5")))
    start = 4 - dist
    start = start + 2 * noise["start"]
    exp = np.array([np.exp(value) for value in -start])  # numpy's scalar exp, as crafter calls it
    start = 1 / (1 + exp)
    water = _weighted([(1, noise["water15"]), (0.15, noise["water5"])], normalize=False) + 0.1
    water = water - 2 * start
    mountain = _weighted([(1, noise["mountain15"]), (0.3, noise["mountain5"])], normalize=True)
    mountain = mountain - (4 * start + 0.3 * water)

    # Its decisions that need no random draw. The other call sites' noise, computed in one batch
    # where crafter's branches may need it (it has no side effect: computing more changes nothing).
    grass = start > 0.5
    mountains = ~grass & (mountain > 0.15)
    high = mountains & (mountain > 0.3)
    low = ~grass & ~mountains
    shore = low & (water > 0.25) & (water <= 0.35)
    noise = grids.noise(
        {
            "cave": high,
            "horizontal": mountains,
            "vertical": mountains,
            "coal": mountains,
            "iron": mountains,
            "lava": high,
            "sand": shore,
            "tree": low,
        }
    )
    cave = high & (noise["cave"] > 0.15)
    left = mountains & ~cave
    horizontal = left & (noise["horizontal"] > 0.4)
    left &= ~horizontal
    vertical = left & (noise["vertical"] > 0.4)
    ores = left & ~vertical
    coal_here = ores & (noise["coal"] > 0)
    iron_here = ores & (noise["iron"] > 0.4)
    diamond_here = ores & (mountain > 0.18)
    lava_here = ores & high & (noise["lava"] > 0.35)
    sand = shore & (noise["sand"] > -0.2)
    lake = low & ~sand & (water > 0.3)
    grassland = low & ~sand & ~lake
    tree_here = grassland & (noise["tree"] > 0)

    ids = world._mat_ids
    material = np.full(xs.shape, ids["grass"], dtype=np.uint8)
    material[cave | horizontal | vertical] = ids["path"]
    material[sand] = ids["sand"]
    material[lake] = ids["water"]
    material[ores] = np.where(lava_here[ores], ids["lava"], ids["stone"])

    # Its decisions with random draws, cell by cell in crafter's order and with its draws.
    drawing = np.flatnonzero(ores | tree_here)
    draws = _Draws(world.random, 3 * int(ores.sum()) + int(tree_here.sum()))
    values, used = draws.values, 0
    flags = zip(
        drawing.tolist(),
        tree_here[drawing].tolist(),
        coal_here[drawing].tolist(),
        iron_here[drawing].tolist(),
        diamond_here[drawing].tolist(),
        strict=True,
    )
    tree_id, coal_id, iron_id, diamond_id = ids["tree"], ids["coal"], ids["iron"], ids["diamond"]
    for cell, tree, coal, iron, diamond in flags:
        if tree:
            used += 1
            if values[used - 1] > 0.8:
                material[cell] = tree_id
            continue
        if coal:
            used += 1
            if values[used - 1] > 0.85:
                material[cell] = coal_id
                continue
        if iron:
            used += 1
            if values[used - 1] > 0.75:
                material[cell] = iron_id
                continue
        if diamond:
            used += 1
            if values[used - 1] > 0.994:
                material[cell] = diamond_id
    draws.used = used
    draws.finish()
    world._mat_map[:, :] = material.reshape(world.area)

    # _set_object: the cells where crafter draws at all, in its order.
    is_grass = material == ids["grass"]
    walkable = np.isin(material, [ids[name] for name in constants.walkable])
    tunnel = (horizontal | vertical) & (material == ids["path"])
    cow_chance = walkable & is_grass & (dist > 3)
    zombie_chance = walkable & (dist > 10)
    skeleton_chance = walkable & tunnel
    drawing = np.flatnonzero(cow_chance | zombie_chance | skeleton_chance)
    draws = _Draws(world.random, 2 * len(drawing))
    values, used = draws.values, 0
    height = world.area[1]
    chances = zip(
        drawing.tolist(),
        cow_chance[drawing].tolist(),
        zombie_chance[drawing].tolist(),
        skeleton_chance[drawing].tolist(),
        strict=True,
    )
    for cell, cow, zombie, skeleton in chances:
        pos = divmod(cell, height)
        if cow:
            used += 1
            if values[used - 1] > 0.985:
                world.add(objects.Cow(world, pos))
                continue
        if zombie:
            used += 1
            if values[used - 1] > 0.993:
                world.add(objects.Zombie(world, pos, player))
                continue
        if skeleton:
            used += 1
            if values[used - 1] > 0.95:
                world.add(objects.Skeleton(world, pos, player))
    draws.used = used
    draws.finish()


def _self_check() -> bool:
    """Our noise equals opensimplex's, bit for bit, at fixed points of all three regions (~10 ms)."""
    rng = np.random.default_rng(20261207)
    x = rng.uniform(-30.0, 30.0, 192)
    y = rng.uniform(-30.0, 30.0, 192)
    z = rng.integers(0, 9, 192).astype(np.float64)
    for seed in (0, 1_234_567_890):
        simplex = opensimplex.OpenSimplex(seed=seed)
        ours = noise3d(simplex, x, y, z).tolist()
        theirs = [simplex.noise3d(a, b, c) for a, b, c in zip(x.tolist(), y.tolist(), z.tolist(), strict=True)]
        if ours != theirs:
            return False
    return True


def _installed_versions_verified() -> bool:
    for package, version in VERIFIED_VERSIONS.items():
        try:
            if importlib.metadata.version(package) != version:
                return False
        except importlib.metadata.PackageNotFoundError:
            return False
    return True


@functools.cache
def port_verified() -> bool:
    """Whether :func:`generate_world` may use the port here (checked once per process)."""
    return _installed_versions_verified() and _self_check()


def generate_world(world: Any, player: Any) -> None:
    """``crafter.worldgen.generate_world(world, player)``: the same world, by the port when verified."""
    generator: Callable[[Any, Any], None] = _generate if port_verified() else worldgen.generate_world
    generator(world, player)
