"""The UniLoss module: ``loss = 1 − g̃(h̃(f(s, y)))`` (paper eq. 5).

Per call (one mini-batch, fully vectorised, on the input's device):

1. refactor the scores into comparisons ``c`` (:mod:`losskit.uniloss.refactor`), optionally
   keeping a subset of them (``subsample``); the hard binaries ``h(c) = [c > 0]`` come from the
   raw scores (:func:`~losskit.uniloss.refactor.binarize`, the one sign rule);
2. relax the binaries: ``b̃ = sigmoid(c / T)`` (eq. 9), ``c`` from squashed scores under
   ``relaxation="authors"``;
3. draw anchors — the ground truth, ``num_good`` good, ``num_bad`` bad and ``num_nearby``
   nearby configurations (§3.4.2) — and evaluate the true metric ``g`` on each;
4. interpolate ``g`` at ``b̃`` by IDW over the whole batch's binary vector (eq. 10);
5. return ``1 − g̃`` (so that a perfect batch has loss 0; the gradient is that of ``−g̃``, the
   authors' loss).

Cost: small problems (``(A + 1)·L ≤`` :data:`DENSE_LIMIT` anchor bits) materialise the anchors
— the fewest ops; larger ones use them by structure (a few edits per good / nearby anchor, one
matrix-vector product for the bad ones, metric values from per-row lost counts), so the cost
grows with the number of binaries ``L``, not with ``A·L`` bit operations. Both give the same
values and gradients.

The anchors are random; pass a ``generator`` (or ``seed``) for reproducible runs, or
precomputed ``anchors`` to :meth:`UniLoss.surrogate` to get a deterministic function of the
scores (e.g. for ``torch.autograd.gradcheck``).

The squash floor
    With ``squash`` (``relaxation="authors"``) every relaxed binary stays below
    ``sigmoid(2/T)`` (0.88 at ``T = 1``, 0.73 at ``T = 2``), so ``b̃`` never reaches the
    ground-truth anchor and the loss keeps a floor above 0 even for perfect, large-margin
    scores (AP on a 1:4 batch of 40, 16 anchors per kind: ≈ 0.085 at ``T = 1``, ≈ 0.16 for
    ``"authors"``). The floor has zero gradient in the margin only in the limit; the exact
    metric (``last_metric``) is unaffected.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from losskit.core._random import generator_key
from losskit.core._validation import (
    check_values,
    checks,
    choice,
    finite_flag,
    integer,
    number,
)
from losskit.core.distributed import gather_batch
from losskit.uniloss.anchors import (
    NEARBY_MODES,
    UNITS,
    Anchors,
    check_anchor_options,
    draw,
    draw_padded,
    may_pad,
)
from losskit.uniloss.interpolation import (
    DISTANCES,
    idw,
    relaxed_idw,
    sigmoid_relaxation,
)
from losskit.uniloss.metrics import METRICS, Metric, _check_radius, resolve_metric
from losskit.uniloss.refactor import (
    Comparisons,
    DegenerateBatchError,
    binarize,
    check_subsample,
    subsample,
)

SCOPES = ("local", "global")
DENSE_LIMIT = 1 << 18
"""Up to this many anchor bits (``(A + 1)·L``) the anchors are materialised (fewest ops);
beyond, they are used by structure (cost flat in ``A``; see :mod:`losskit.uniloss.anchors`)."""
RELAXATIONS: dict[str, tuple[bool, float]] = {"logit": (False, 1.0), "authors": (True, 2.0)}
"""``relaxation`` presets → ``(squash, temperature)``: ``"logit"``: ``sigmoid(c)`` on raw score
differences; ``"authors"``: the authors' code (sigmoid outputs, see the module docs)."""


def _metric(value: Any, name: str) -> Any:
    """A registered metric name, a :class:`Metric` or a callable ``g`` (``name``: the
    argument's)."""
    if isinstance(value, str):
        METRICS.factory(value)  # unknown name: the registry's error, listing the known ones
    elif not (isinstance(value, Metric) or callable(value)):
        raise ValueError(
            f"{name} must be a registered name, a Metric or a callable, got {value!r}"
        )
    return value


def _flag(optional: bool = False) -> Callable[[Any, str], Any]:
    """A bool (``optional``: or ``None``); ``1`` is not ``True``."""

    def check(value: Any, name: str) -> Any:
        if isinstance(value, bool) or (optional and value is None):
            return value
        raise ValueError(f"{name} must be {'None or ' if optional else ''}a bool, got {value!r}")

    return check


def _generator(value: Any, name: str) -> Any:
    if value is not None and not isinstance(value, torch.Generator):
        raise ValueError(f"{name} must be a torch.Generator, got {type(value).__name__}")
    return value


def _layout(value: Any, name: str) -> Any:
    if isinstance(value, str):
        METRICS.factory(value)
    elif not isinstance(value, Metric):
        raise ValueError(f"{name} must be a registered metric name or a Metric, got {value!r}")
    return value


CHECKS = {
    "metric": _metric,
    "num_anchors": integer(low=0),
    "temperature": number(low=0.0, low_open=True, optional=True),
    "power": number(low=0.0, low_open=True),
    "subsample": lambda value, name: check_subsample(value),
    "k": integer(low=1),
    "radius": lambda value, name: _check_radius(value),
    "flip_bits": integer(low=1),
    "generator": _generator,
    "seed": integer(low=0, optional=True),
    "relaxation": choice(*RELAXATIONS),
    "squash": _flag(optional=True),
    "num_good": integer(low=0, optional=True),
    "num_bad": integer(low=0, optional=True),
    "num_nearby": integer(low=0, optional=True),
    "nearby": choice(*NEARBY_MODES),
    "nearby_unit": choice(None, *UNITS),
    "include_truth": _flag(),
    "distance": choice(*DISTANCES),
    "layout": _layout,
    "scope": choice(*SCOPES),
    "on_degenerate": choice("raise", "zero"),
    "validate_args": _flag(optional=True),
}
"""The declared check of each :class:`UniLoss` argument (:func:`losskit.core._validation.checks`):
the constructor runs them, and ``UniLossOptions`` (``--method uniloss``) inherits them."""


class UniLoss(nn.Module):
    """UniLoss surrogate of a metric (Liu, Wang & Deng, "A Unified Framework of Surrogate Loss
    by Refactoring and Interpolation"): ``UniLoss("accuracy")(logits, target)``.

    Args:
        metric: a name in :data:`~losskit.uniloss.METRICS` (``accuracy``, ``topk``, ``ap``,
            ``auc``, ``precision_at_k``, ``f1``, ``pck``), a :class:`Metric`, or a callable
            ``g(b) -> (A,)`` on binaries laid out like ``layout`` (see
            :func:`~losskit.uniloss.metrics.custom_metric`).
        num_anchors: anchors per kind (good, bad, nearby) — the paper's 16; ``num_good`` /
            ``num_bad`` / ``num_nearby`` override it per kind. The ground truth is added unless
            ``include_truth=False``.
        relaxation: how comparisons become relaxed binaries ``b̃`` (eq. 9), a preset of
            ``squash`` and ``temperature`` (:data:`RELAXATIONS`):

            * ``"logit"`` (default): ``b̃ = sigmoid(c)``, ``c`` a difference of raw scores
              (logits);
            * ``"authors"``: the authors' code — their networks end in a sigmoid ``σ`` and their
              binaries are ``sigmoid(σ(s_i) − σ(s_j))``; here ``squash=True, temperature=2``,
              which is that exactly (``tanh(s/2) = 2σ(s) − 1``, so the squashed difference is
              ``2(σ(s_i) − σ(s_j))``, halved by ``T = 2``). ``b̃`` then stays in
              ``(0.27, 0.73)``.

            Evidence (experiment p7, ``losskit reproduce imbalanced-ap``): on Fashion-MNIST
            9-vs-rest at 1:19 and 1:99, MLP, SGD and Adam, tuned rates, 5 seeds, ``"authors"``
            gave lower test AP than ``"logit"`` for every seed in all four settings (Δ −1.6 to
            −13.5 points) and both were below plain BCE; prefer ``"logit"``.
        temperature: ``T`` of ``sigmoid(c / T)``; ``None``: the preset's.
        squash: map every compared score ``s`` to ``tanh(s/2) = 2·sigmoid(s) − 1`` before the
            differences (in ``(−1, 1)``, differences in ``(−2, 2)``; the logits themselves are
            not bounded); ``None``: the preset's. Signs — hence the exact metric,
            ``last_metric`` and the nearby anchors — always come from the raw scores.
        power: IDW power ``p`` (weights ``d^(−p)``); ``distance``: ``"euclidean"`` (paper) or
            ``"manhattan"``.
        subsample: ``None``, an int ``k`` (keep each group's ``k`` highest-scoring
            competitors/negatives) or a fraction in ``(0, 1]`` (random columns, seeded like the
            anchors) — see :func:`~losskit.uniloss.refactor.subsample`.
        k: the ``k`` of ``topk`` (``k < C``) / ``precision_at_k``; ``radius``: the PCK radius
            in pixels.
        flip_bits: bits (or, with ``nearby_unit="score"``, scores) changed in good and nearby
            anchors; ``nearby``: ``"random"`` (paper) or ``"toward_truth"`` (authors' code:
            only changes toward the ground truth); ``nearby_unit``: ``"bit"`` or ``"score"``
            (all binaries of one score: a whole pixel for PCK, the paper's appendix A);
            ``None``: the metric's default (``"score"`` for PCK, ``"bit"`` otherwise). See
            :mod:`losskit.uniloss.anchors`.
        generator / seed: randomness of anchors and random subsampling (``seed`` creates a CPU
            generator; neither: torch's global RNG).
        scope: ``"local"`` (default): under ``torch.distributed`` each rank's surrogate is of
            its own local batch (DDP averages the gradients of these per-rank surrogates).
            ``"global"``: scores and targets are all-gathered
            (:func:`losskit.core.distributed.gather_batch`) and every rank computes the surrogate of
            the *global* batch — what a ranking metric such as AP needs, as its value is not a
            mean over samples. Every rank must then draw the same anchors: seed the generator
            identically on all ranks (``UniLossMethod`` does). Outside distributed runs both
            scopes are the same.
        on_degenerate: what a batch on which the metric is undefined or constant does (AP /
            AUC / precision@k without a positive or without a negative sample, F1 without a
            positive, no comparison at all): ``"raise"`` (``DegenerateBatchError``, a
            ``ValueError``) or ``"zero"``: a zero loss with zero gradient (training skips the
            batch; ``last_surrogate`` is then ``None``). Where the batch is not checked on the
            host (F1 with value checks off; any metric under ``torch.compile``), ``"zero"`` is
            applied inside the graph and ``"raise"`` yields a NaN loss (the metric is
            undefined), ``last_surrogate`` / ``last_metric`` then being NaN.
        validate_args: value checks (NaN/Inf scan, label ranges); ``None`` follows the global
            switch (:func:`losskit.set_validate_args`). With them off, a forward + backward
            reads no value back to the host, except one for the ranking metrics AP / AUC /
            precision@k: the number of positives, on which the anchors' random draw depends
            (no boolean-mask selection, no data-dependent shape under ``torch.compile``), and
            non-finite scores give a non-finite loss and gradients (as ``F.cross_entropy``; an
            AMP ``GradScaler`` then skips the step) instead of a ``ValueError``.

    Forward returns the scalar ``1 − g̃`` (in ``[0, 1]`` for metrics in ``[0, 1]``); after each
    call ``last_surrogate`` holds ``g̃`` — the interpolated value the loss descends, *not* an
    estimate of the metric — and ``last_metric`` the exact metric ``g(h(f(s, y)))`` of the
    batch (both detached 0-d tensors).

    ``torch.compile(UniLoss(...), fullgraph=True)`` works for every metric: the random draws
    are opaque ops that use the real generator (compiled = eager values, and advancing the
    generator causes no recompile); the ranking metrics compile with static shapes (their
    comparisons padded to ``(1, N, N)``: a new batch size recompiles, a new number of
    positives does not). Not compiled: ``subsample`` with a ranking metric
    (``NotImplementedError`` while tracing).

    Binary metrics take one logit per sample ``(N,)`` / ``(N, 1)`` or two-class logits
    ``(N, 2)`` (score ``logit_1 − logit_0``) and 0/1 targets of any real dtype
    (:func:`~losskit.uniloss.refactor.binary_labels`).
    """

    needs_features = False
    has_parameters = False

    @checks(**CHECKS)
    def __init__(
        self,
        metric: str | Metric | Callable[[torch.Tensor], torch.Tensor] = "accuracy",
        num_anchors: int = 16,
        temperature: float | None = None,
        power: float = 1.0,
        subsample: int | float | None = None,
        k: int = 1,
        radius: float = 1.0,
        flip_bits: int = 1,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        *,
        relaxation: str = "logit",
        squash: bool | None = None,
        num_good: int | None = None,
        num_bad: int | None = None,
        num_nearby: int | None = None,
        nearby: str = "random",
        nearby_unit: str | None = None,
        include_truth: bool = True,
        distance: str = "euclidean",
        layout: str = "accuracy",
        scope: str = "local",
        on_degenerate: str = "raise",
        validate_args: bool | None = None,
    ) -> None:
        super().__init__()  # single arguments: checked as declared (@checks(**CHECKS)), then:
        self.relaxation = relaxation
        preset_squash, preset_temperature = RELAXATIONS[relaxation]
        self.squash = preset_squash if squash is None else squash
        self.temperature = preset_temperature if temperature is None else float(temperature)
        self.on_degenerate = on_degenerate
        self.scope = scope
        self.validate_args = validate_args
        self.metric = resolve_metric(metric, k=k, radius=radius, layout=layout)
        self.metric_name = metric if isinstance(metric, str) else self.metric.name
        self._refactor_takes_flag = _takes_validate_args(self.metric.refactor)
        self.num_good = num_anchors if num_good is None else num_good
        self.num_bad = num_anchors if num_bad is None else num_bad
        self.num_nearby = num_anchors if num_nearby is None else num_nearby
        self.include_truth = include_truth
        if self.num_good + self.num_bad + self.num_nearby + int(include_truth) == 0:
            raise ValueError("num_anchors must be ≥ 1 when include_truth is False")
        self.power = float(power)
        self.subsample = subsample
        self.flip_bits = flip_bits
        self.nearby = nearby
        self.nearby_unit = self.metric.nearby_unit if nearby_unit is None else nearby_unit
        check_anchor_options(self.num_good, self.num_bad, self.num_nearby, self.flip_bits,
                             nearby, self.nearby_unit, include_truth)
        self.distance = distance
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(seed)
        self.generator = generator
        self.last_surrogate: torch.Tensor | None = None
        self.last_metric: torch.Tensor | None = None

    # ----------------------------------------------------------------- generator
    @property
    def generator(self) -> torch.Generator | None:
        """The anchors' generator (``None``: torch's global RNG)."""
        return self._generator

    @generator.setter
    def generator(self, generator: torch.Generator | None) -> None:
        self._generator = generator
        self._rng = generator_key(generator)  # what traced code uses (no Generator object)

    def __setstate__(self, state: dict[str, Any]) -> None:  # copy.deepcopy, pickle
        super().__setstate__(state)
        self._rng = generator_key(self._generator)

    # ------------------------------------------------------------------ pieces
    def _raw_comparisons(self, input: torch.Tensor, target: torch.Tensor) -> Comparisons:
        if self._refactor_takes_flag:
            comps = self.metric.refactor(input, target, validate_args=self.validate_args)
        else:
            comps = self.metric.refactor(input, target)
        return subsample(comps, self.subsample, self._rng)

    def _squashed(self, comps: Comparisons) -> Comparisons:
        # 2·sigmoid(s) − 1 = tanh(s/2): odd and increasing, signs are kept
        return comps.map_scores(lambda s: torch.tanh(s / 2)) if self.squash else comps

    def comparisons(self, input: torch.Tensor, target: torch.Tensor) -> Comparisons:
        """Validated (and subsampled) comparisons of ``input`` against ``target``, with the
        scores squashed when ``squash`` is on."""
        return self._squashed(self._raw_comparisons(input, target))

    def sample_anchors(
        self,
        comps: Comparisons,
        current: torch.Tensor | None = None,
        dense_dtype: torch.dtype = torch.bool,
    ) -> Anchors:
        """Anchors around the current configuration ``h(c)`` of ``comps`` (bad rows in
        ``dense_dtype``)."""
        if current is None:
            with torch.no_grad():
                current = comps.hard_binaries()
        valid = comps.valid_mask()
        options = (self._rng, self.num_good, self.num_bad, self.num_nearby, self.flip_bits,
                   self.nearby, self.nearby_unit, dense_dtype)
        if comps.rows is not None:  # the static (padded) ranking layout
            good, good_val, bad, near, near_val = draw_padded(
                current, comps.rows, comps.valid, *options
            )
        else:
            good, good_val, bad, near, near_val = draw(current, valid, *options)
        return Anchors(
            tuple(current.shape),
            truth=self.include_truth,
            good_pos=good if self.num_good else None,
            good_val=good_val if self.num_good else None,
            dense=bad if self.num_bad else None,
            base=current.reshape(-1) if self.num_nearby else None,
            nearby_pos=near if self.num_nearby else None,
            nearby_val=near_val if self.num_nearby else None,
            # compiling: sizes may be symbolic (even 0): always allow padding
            padded=torch.compiler.is_compiling() or may_pad(
                current.numel(), valid is not None, self.flip_bits, self.nearby, self.nearby_unit
            ),
        )

    def _by_structure(self, comps: Comparisons) -> bool:
        """Whether to use drawn anchors by structure (large ``A·L``; always while compiling,
        where sizes may be symbolic) rather than as materialised bits (fewest ops)."""
        if self.metric.from_counts is None or self.distance != "euclidean":
            return False
        if torch.compiler.is_compiling():
            return True
        anchors = int(self.include_truth) + self.num_good + self.num_bad + self.num_nearby
        return (anchors + 1) * comps.num_binaries > DENSE_LIMIT

    def surrogate(
        self,
        input: torch.Tensor,
        target: torch.Tensor,
        anchors: Anchors | torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The interpolated metric ``g̃(h̃(f(s, y)))`` (eq. 5), a 0-d tensor.

        ``anchors``: fixed anchor configurations (``Anchors`` or a bool tensor ``(A, G, P, Q)``)
        instead of freshly drawn ones.
        """
        comps = self._raw_comparisons(input, target)
        degenerate = comps.extra.get("degenerate")  # a tensor when not decided on the host
        if not torch.compiler.is_compiling() and comps.num_binaries == 0:
            raise DegenerateBatchError("the batch has no comparison: the metric is constant")
        relaxed = self._squashed(comps)
        dtype = torch.float64 if comps.pos.dtype == torch.float64 else torch.float32
        with torch.no_grad():
            c = comps.differences()
            current = binarize(c)  # the one sign rule (also that of Metric.hard)
            valid = comps.valid_mask()
            if valid is not None:
                current |= ~valid
            dense_ones = None
            if anchors is None and self._by_structure(comps):
                # large problems: distances and values from the anchors' structure
                points: Anchors | torch.Tensor = self.sample_anchors(comps, current, dtype)
                values, dense_ones = self._values_by_counts(points, comps, current)
            else:  # small problems, custom metrics, given anchors: materialised bits
                if anchors is None:
                    anchors = self.sample_anchors(comps, current)
                elif not isinstance(anchors, Anchors):
                    anchors = Anchors.from_bits(anchors)
                if tuple(anchors.shape) != comps.shape:
                    raise ValueError(
                        f"anchors must have shape (A, {', '.join(map(str, comps.shape))}), "
                        f"got (A, {', '.join(map(str, anchors.shape))})"
                    )
                bits = anchors.bits_with(current)
                values = self.metric.evaluate(bits, comps)  # type: ignore[misc]
                points = bits[:-1]
            if degenerate is not None:  # the metric is undefined: keep the graph finite
                values = values.masked_fill(degenerate, 0.0)
            self.last_metric = values[-1]
            c_relaxed = c if relaxed is comps else relaxed.differences()
        if self.distance == "euclidean":
            value = relaxed_idw(
                relaxed.pos, relaxed.neg, points, values[:-1], self.temperature, self.power,
                comps.mask(), c_relaxed, dense_ones, exact_padding=comps.rows is not None,
            )
        else:
            u = sigmoid_relaxation(relaxed.differences(), self.temperature, valid)
            value = idw(u, points, values[:-1], self.power, self.distance)
        if degenerate is not None:
            fill = 0.0 if self.on_degenerate == "zero" else math.nan
            value = value.masked_fill(degenerate, 1.0 - fill)
            self.last_metric = self.last_metric.masked_fill(degenerate, math.nan)
            self.last_surrogate = value.detach().masked_fill(degenerate, math.nan)
        else:
            self.last_surrogate = value.detach()
        return value

    def _values_by_counts(
        self, anchors: Anchors, comps: Comparisons, current: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``g`` at every anchor and (last) at ``current`` ``(A + 1,)`` from the lost counts
        (:meth:`Anchors.lost_counts`), and the number of ones of each dense row."""
        g, p, q = comps.shape
        base = q - current.view(torch.uint8).sum(-1, dtype=torch.int32).reshape(-1)
        counts = anchors.lost_counts(base)
        t, ng, nd, _ = anchors.sizes()
        dense_ones = None if not nd else comps.num_binaries - counts[t + ng : t + ng + nd].sum(1)
        counts = torch.cat([counts, base.to(counts.dtype).unsqueeze(0)])
        values = self.metric.from_counts(counts.reshape(len(counts), g, p), comps)  # type: ignore[misc]
        return values, dense_ones

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``1 − g̃``: the loss to minimise (``features`` is ignored)."""
        if self.scope == "global":
            input, target = gather_batch(input), gather_batch(target)
        try:
            loss = 1.0 - self.surrogate(input, target)
        except DegenerateBatchError:
            if self.on_degenerate == "raise":
                raise
            self.last_surrogate = self.last_metric = None
            return (input * 0.0).sum()
        if not check_values(self.validate_args):
            # unchecked scores: a NaN/Inf makes the loss and its gradients non-finite (÷ False),
            # as torch's losses do, so that an AMP GradScaler skips the step
            loss = loss / finite_flag(input)
        return loss

    def extra_repr(self) -> str:
        return (
            f"metric={self.metric_name!r}, relaxation={self.relaxation!r} "
            f"(squash={self.squash}, T={self.temperature}), anchors=(good={self.num_good}, "
            f"bad={self.num_bad}, nearby={self.num_nearby} by {self.nearby_unit}, "
            f"truth={self.include_truth}), power={self.power}, subsample={self.subsample}, "
            f"flip_bits={self.flip_bits}, scope={self.scope!r}"
        )


def _takes_validate_args(refactor: Callable[..., Any]) -> bool:
    """Whether a metric's ``refactor`` accepts ``validate_args`` (all built-in ones do)."""
    try:
        return "validate_args" in inspect.signature(refactor).parameters
    except (TypeError, ValueError):
        return False
