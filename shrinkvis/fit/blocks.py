"""Per-cluster blocks: everything a linear mixed model with one grouping factor needs from the rows.

The columns the model uses (X's and Z's, each once, and y) are measured from their overall means and
divided by powers of two near their SDs (a constant column keeps its value, divided by a power of two):
w_k = (u_k − c_k) / s_k. Per cluster the blocks are the cross-products WⱼᵀWⱼ of [1, w_1 … w_k, w_y]: a
group-by of sums of products that numpy, DuckDB or Spark computes in one pass once the centres are
known. Measured from the centres the sums lose no digits to an offset of any column (raw sums of x ≈ 10⁸
would spend most of float64's digits on it); powers of two make the division exact.

From these the engine's matrices come in *working* coordinates, X̃ = X A_X, Z̃ = Z A_Z, ỹ = (y − c_y)/s_y,
an exact reparametrisation of the model: when X has a constant column the other columns of X are
centred (the constant absorbs the shift); Z's columns are centred only inside a bar that has a constant
column, since centring across bars would correlate independent blocks. Every estimate maps back exactly
(`Working.to_model`): β = s_y A_X β̃ (+ c_y on the constant), Σ = s_y² A_Z Σ̃ A_Zᵀ, b = s_y A_Z b̃.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..design import Design
from ..errors import UserError
from ..model import INTERCEPT, ModelFormula, plain_sum

__all__ = ["Blocks", "SumsPlan", "Working", "blocks_from_sums", "blocks_of", "sums_plan", "working"]


@dataclass(frozen=True)
class Blocks:
    """Per-cluster cross-products of the model's columns, measured from their centres.

    `cross[j]` is WⱼᵀWⱼ for W = [1, w_1 … w_k, w_y] (so `cross[j, 0, 0]` is the cluster's row count);
    `columns` names w_1 … w_k, `centres` and `scales` hold c and s for 1, w_1 … w_k and y in that order
    (0 and 1 for the constant). `fixed_columns` and `random_columns` say which w each column of X and Z
    is (0: the constant 1); `blocks` the sizes of Z's independent blocks.
    """

    cross: np.ndarray  # (J, m, m)
    columns: tuple[str, ...]
    centres: np.ndarray  # (m,)
    scales: np.ndarray  # (m,)
    constant: np.ndarray  # (m,) bool: the column is constant over all rows
    fixed_names: tuple[str, ...]
    random_names: tuple[str, ...]
    fixed_columns: tuple[int, ...]
    random_columns: tuple[int, ...]
    blocks: tuple[int, ...]
    labels: np.ndarray

    @property
    def n(self) -> np.ndarray:
        return np.rint(self.cross[:, 0, 0]).astype(np.int64)

    @property
    def n_obs(self) -> int:
        return int(self.n.sum())

    @property
    def n_groups(self) -> int:
        return self.cross.shape[0]


def _power_of_two(spread: float) -> float:
    if not math.isfinite(spread) or spread <= 0:
        return 1.0
    return 2.0 ** round(math.log2(spread))


@dataclass(frozen=True)
class SumsPlan:
    """What an aggregation engine (DuckDB, Spark) sums for a model whose terms are numeric columns: the
    columns u_1 … u_k (each once; y is summed last), which of them each column of X and Z is (0: the
    constant), and Z's block sizes. The engine returns per cluster n, Σ(v − c) and Σ(v − c)(v' − c')
    for v in u_1 … u_k, y (`blocks_from_sums`)."""

    response: str
    group: str
    columns: tuple[str, ...]
    fixed_names: tuple[str, ...]
    random_names: tuple[str, ...]
    fixed_columns: tuple[int, ...]
    random_columns: tuple[int, ...]
    blocks: tuple[int, ...]

    @property
    def summed(self) -> tuple[str, ...]:
        """The columns whose sums the engine computes, in W's order after the constant: u_1 … u_k, y."""
        return (*self.columns, self.response)


def sums_plan(formula: ModelFormula) -> SumsPlan:
    """The plan for a formula whose fixed part and bars are sums of columns; anything else (factors,
    functions, interactions) needs the rows in memory, where formulaic encodes them."""
    parts = [formula.fixed, *(bar.terms for bar in formula.bars)]
    plain = [plain_sum(text) for text in parts]
    for text, read in zip(parts, plain, strict=True):
        if read is None:
            raise UserError(
                f"formula {formula.text!r}: {text!r} is more than a sum of columns; a table summed per cluster "
                "(DuckDB, Spark) takes numeric columns as they are (y ~ x1 + x2 + (1 + x1 | g)): compute the "
                "term as a column first, or use a table that fits in memory"
            )
    columns: list[str] = []

    def index(name: str) -> int:
        if name not in columns:
            columns.append(name)
        return columns.index(name) + 1

    def names(read: tuple[bool, list[str]]) -> tuple[list[str], list[int]]:
        intercept, terms = read
        return ([INTERCEPT] if intercept else []) + terms, ([0] if intercept else []) + [
            index(t) for t in terms
        ]

    fixed_names, fixed_columns = names(plain[0])  # type: ignore[arg-type]
    random_names: list[str] = []
    random_columns: list[int] = []
    blocks: list[int] = []
    for bar, read in zip(formula.bars, plain[1:], strict=True):
        bar_names, bar_columns = names(read)  # type: ignore[arg-type]
        if not bar_names:
            raise UserError(f"formula {formula.text!r}: ({bar.terms} | {formula.group}) leaves no column")
        random_names += bar_names
        random_columns += bar_columns
        blocks += [1] * len(bar_names) if bar.independent else [len(bar_names)]
    if formula.response in columns or formula.group in columns:
        raise UserError(f"formula {formula.text!r}: the response and the group cannot also be predictors")
    return SumsPlan(
        response=formula.response,
        group=formula.group,
        columns=tuple(columns),
        fixed_names=tuple(fixed_names),
        random_names=tuple(random_names),
        fixed_columns=tuple(fixed_columns),
        random_columns=tuple(random_columns),
        blocks=tuple(blocks),
    )


def blocks_from_sums(
    plan: SumsPlan,
    labels: np.ndarray,
    n: np.ndarray,
    linear: np.ndarray,
    products: np.ndarray,
    centres: np.ndarray,
    spreads: np.ndarray,
    constant: np.ndarray,
) -> Blocks:
    """Blocks from an engine's sums measured from `centres` (one per summed column: u_1 … u_k, y):
    `linear` (J, k + 1) holds Σ(v − c), `products` (J, k + 1, k + 1) Σ(v − c)(v' − c'); `spreads` are typical
    sizes of the columns (their SD over the first rows; the units are the powers of two nearest them) and
    `constant` says which columns hold one value in every row."""
    scales = np.array([_power_of_two(float(spread)) for spread in spreads])
    m = len(scales) + 1
    cross = np.empty((len(n), m, m))
    cross[:, 0, 0] = n
    cross[:, 0, 1:] = cross[:, 1:, 0] = linear / scales
    cross[:, 1:, 1:] = products / np.outer(scales, scales)
    return Blocks(
        cross=cross,
        columns=plan.columns,
        centres=np.concatenate([[0.0], centres]),
        scales=np.concatenate([[1.0], scales]),
        constant=np.concatenate([[True], constant]),
        fixed_names=plan.fixed_names,
        random_names=plan.random_names,
        fixed_columns=plan.fixed_columns,
        random_columns=plan.random_columns,
        blocks=plan.blocks,
        labels=labels,
    )


def blocks_of(design: Design) -> Blocks:
    """The blocks of a design's rows (two passes: the centres, then the sums of products)."""
    names: list[str] = []
    values: list[np.ndarray] = []
    index: dict[str, int] = {}

    def column(name: str, data: np.ndarray) -> int:
        if name == "(Intercept)":
            return 0
        if name not in index:
            index[name] = len(names) + 1
            names.append(name)
            values.append(data)
        return index[name]

    fixed_columns = tuple(column(name, design.X[:, k]) for k, name in enumerate(design.fixed_names))
    random_columns = tuple(column(name, design.Z[:, k]) for k, name in enumerate(design.random_names))
    raw = [np.ones(len(design.y)), *values, design.y]
    centres, scales, constant = [0.0], [1.0], [True]
    for data in raw[1:]:
        mean = float(np.mean(data))
        spread = float(np.std(data))
        is_constant = bool(np.all(data == data[0]))
        centres.append(0.0 if is_constant else mean)
        scales.append(_power_of_two(abs(mean) if is_constant else spread))
        constant.append(is_constant)
    W = [raw[0]] + [(data - c) / s for data, c, s in zip(raw[1:], centres[1:], scales[1:], strict=True)]
    m = len(W)
    n_groups = len(design.labels)
    cross = np.empty((n_groups, m, m))
    cross[:, 0, 0] = np.bincount(design.codes, minlength=n_groups)
    for a in range(1, m):
        cross[:, 0, a] = cross[:, a, 0] = np.bincount(design.codes, weights=W[a], minlength=n_groups)
        for b in range(a, m):
            weights = W[a] * W[b]
            cross[:, a, b] = cross[:, b, a] = np.bincount(design.codes, weights=weights, minlength=n_groups)
    return Blocks(
        cross=cross,
        columns=tuple(names),
        centres=np.array(centres),
        scales=np.array(scales),
        constant=np.array(constant),
        fixed_names=design.fixed_names,
        random_names=design.random_names,
        fixed_columns=fixed_columns,
        random_columns=random_columns,
        blocks=design.blocks,
        labels=design.labels,
    )


@dataclass(frozen=True)
class Working:
    """The model in working coordinates, per cluster: X̃ᵀX̃ (J, p, p), Z̃ᵀX̃ (J, q, p), Z̃ᵀZ̃ (J, q, q),
    X̃ᵀỹ (J, p), Z̃ᵀỹ (J, q), ỹᵀỹ (J,), n (J,); with the maps back to X, Z and y as given: X̃ = X A_X,
    Z̃ = Z A_Z, y = s_y ỹ + c_y (c_y = 0 unless X has a constant column, `intercept` its index)."""

    xtx: np.ndarray
    ztx: np.ndarray
    ztz: np.ndarray
    xty: np.ndarray
    zty: np.ndarray
    yty: np.ndarray
    n: np.ndarray
    fixed_map: np.ndarray  # A_X
    random_map: np.ndarray  # A_Z
    y_scale: float
    y_centre: float
    intercept: int | None  # X's constant column
    intercept_value: float  # its value in the rows
    blocks: tuple[int, ...]

    @property
    def p(self) -> int:
        return self.xtx.shape[1]

    @property
    def q(self) -> int:
        return self.ztz.shape[1]


def _columns_map(
    blocks: Blocks, members: tuple[int, ...], centre: bool
) -> tuple[np.ndarray, np.ndarray, int | None, float]:
    """For one matrix (X, or one bar of Z) made of the w columns `members`: F, with the matrix's working
    columns = W F, and A, with working columns = (columns as given) A. Columns are centred (F picks w)
    only when the matrix has a constant column to absorb the shift and `centre` allows it."""
    m, k = blocks.cross.shape[1], len(members)
    constant = next((i for i, w in enumerate(members) if blocks.constant[w]), None)
    F = np.zeros((m, k))
    A = np.zeros((k, k))
    value = 1.0
    if constant is not None:
        w0 = members[constant]
        # the column's value in the rows: s times its (constant) w
        value = float(blocks.scales[w0] * blocks.cross[:, 0, w0].sum() / blocks.cross[:, 0, 0].sum())
    for i, w in enumerate(members):
        c, s = blocks.centres[w], blocks.scales[w]
        F[w, i] = 1.0
        A[i, i] = 1.0 / s
        if blocks.constant[w] or c == 0.0:
            continue
        if centre and constant is not None:
            A[constant, i] -= c / (s * value)
        else:
            F[0, i] += c / s
    return F, A, constant, value


def working(blocks: Blocks) -> Working:
    """The blocks turned into the engine's per-cluster matrices in working coordinates."""
    C = blocks.cross
    F_x, A_x, intercept, value = _columns_map(blocks, blocks.fixed_columns, centre=True)
    pieces, maps, start = [], [], 0
    for size in blocks.blocks:
        members = blocks.random_columns[start : start + size]
        F_b, A_b, _, _ = _columns_map(blocks, members, centre=True)
        pieces.append(F_b)
        maps.append(A_b)
        start += size
    F_z = np.hstack(pieces)
    q = F_z.shape[1]
    A_z = np.zeros((q, q))
    start = 0
    for A_b in maps:
        size = A_b.shape[0]
        A_z[start : start + size, start : start + size] = A_b
        start += size
    m = C.shape[1]
    f_y = np.zeros(m)
    f_y[m - 1] = 1.0
    y_centre = float(blocks.centres[m - 1])
    if intercept is None:
        f_y[0] += y_centre / blocks.scales[m - 1]
        y_centre = 0.0
    J = C.shape[0]
    flat = C.reshape(J, m * m)
    Cf_y = C @ f_y

    def inner(F: np.ndarray, G: np.ndarray) -> np.ndarray:
        """Fᵀ C_j G for every cluster, as one matrix product: (FᵀCG)_ab = Σ_kl F_ka G_lb C_kl."""
        return (flat @ np.kron(F, G)).reshape(J, F.shape[1], G.shape[1])

    return Working(
        xtx=inner(F_x, F_x),
        ztx=inner(F_z, F_x),
        ztz=inner(F_z, F_z),
        xty=Cf_y @ F_x,
        zty=Cf_y @ F_z,
        yty=Cf_y @ f_y,
        n=blocks.n,
        fixed_map=A_x,
        random_map=A_z,
        y_scale=float(blocks.scales[m - 1]),
        y_centre=y_centre,
        intercept=intercept,
        intercept_value=value,
        blocks=blocks.blocks,
    )
