"""The UniLoss module: ``loss = 1 − g̃(h̃(f(s, y)))`` (paper eq. 5).

Per call (one mini-batch, fully vectorised, on the input's device):

1. refactor the scores into comparisons ``c`` (:mod:`losskit.uniloss.refactor`), optionally
   keeping a subset of them (``subsample``);
2. relax the binaries: ``b̃ = sigmoid(c / T)`` (eq. 9);
3. draw anchors — the ground truth, ``num_good`` good, ``num_bad`` bad and ``num_nearby``
   nearby configurations (§3.4.2) — and evaluate the true metric ``g`` on each;
4. interpolate ``g`` at ``b̃`` by IDW over the whole batch's binary vector (eq. 10);
5. return ``1 − g̃`` (so that a perfect batch has loss 0; the gradient is that of ``−g̃``, the
   authors' loss).

The anchors are random; pass a ``generator`` (or ``seed``) for reproducible runs, or
precomputed ``anchors`` to :meth:`UniLoss.surrogate` to get a deterministic function of the
scores (e.g. for ``torch.autograd.gradcheck``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from losskit.distributed import gather_batch
from losskit.uniloss.anchors import NEARBY_MODES, Anchors, sample_anchors
from losskit.uniloss.interpolation import (
    DISTANCES,
    check_positive,
    idw,
    relaxed_idw,
    sigmoid_relaxation,
)
from losskit.uniloss.metrics import Metric, resolve_metric
from losskit.uniloss.refactor import (
    Comparisons,
    DegenerateBatchError,
    check_subsample,
    subsample,
)

SCOPES = ("local", "global")


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return value


def _check_float(value: Any, name: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    return check_positive(value, name)


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
        temperature: ``T`` of the sigmoid relaxation ``sigmoid(c / T)`` (see
            :mod:`losskit.uniloss.interpolation` on how it interacts with raw logits).
        power: IDW power ``p`` (weights ``d^(−p)``); ``distance``: ``"euclidean"`` (paper) or
            ``"manhattan"``.
        subsample: ``None``, an int ``k`` (keep each group's ``k`` highest-scoring
            competitors/negatives) or a fraction in ``(0, 1]`` (random columns) — see
            :func:`~losskit.uniloss.refactor.subsample`.
        k: the ``k`` of ``topk`` / ``precision_at_k``; ``radius``: the PCK radius in pixels.
        flip_bits: bits flipped in good and nearby anchors; ``nearby``: ``"random"`` (paper) or
            ``"toward_truth"`` (authors' code: flip wrong bits to 1).
        generator / seed: randomness of anchors and random subsampling (``seed`` creates a CPU
            generator; neither: torch's global RNG).
        scope: ``"local"`` (default): under ``torch.distributed`` each rank's surrogate is of
            its own local batch (DDP averages the gradients of these per-rank surrogates).
            ``"global"``: scores and targets are all-gathered
            (:func:`losskit.distributed.gather_batch`) and every rank computes the surrogate of
            the *global* batch — what a ranking metric such as AP needs, as its value is not a
            mean over samples. Every rank must then draw the same anchors: seed the generator
            identically on all ranks (``UniLossMethod`` does). Outside distributed runs both
            scopes are the same.
        squash: map every compared score ``s`` to ``2·sigmoid(s) − 1`` before the differences
            (the authors' networks end in a sigmoid). The map is odd and increasing, so every
            sign — hence the exact metric — is kept, up to ties where it saturates (float32:
            ``|s| ≳ 17``), and the differences are bounded in ``[−2, 2]``. Un-squashed logits
            can grow without bound under a rank-only loss; on the 1:9 AP task one seed of five
            diverged without it (``results/``), none with it, at some cost in AP.
        on_degenerate: what a batch on which the metric is undefined (AP / AUC / precision@k
            without a positive or without a negative sample) does: ``"raise"``
            (``DegenerateBatchError``, a ``ValueError``) or ``"zero"``: a zero loss with zero
            gradient (training skips the batch; ``last_surrogate`` is then ``None``).

    Forward returns the scalar ``1 − g̃`` (in ``[0, 1]`` for metrics in ``[0, 1]``); after each
    call ``last_surrogate`` holds ``g̃`` and ``last_metric`` the exact metric ``g(sign(b))`` of
    the batch (both detached 0-d tensors).
    """

    needs_features = False
    has_parameters = False

    def __init__(
        self,
        metric: str | Metric | Callable[[torch.Tensor], torch.Tensor] = "accuracy",
        num_anchors: int = 16,
        temperature: float = 1.0,
        power: float = 1.0,
        subsample: int | float | None = None,
        k: int = 1,
        radius: float = 1.0,
        flip_bits: int = 1,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        *,
        num_good: int | None = None,
        num_bad: int | None = None,
        num_nearby: int | None = None,
        nearby: str = "random",
        include_truth: bool = True,
        distance: str = "euclidean",
        layout: str = "accuracy",
        scope: str = "local",
        on_degenerate: str = "raise",
        squash: bool = False,
    ) -> None:
        super().__init__()
        if not isinstance(squash, bool):
            raise ValueError(f"squash must be a bool, got {squash!r}")
        self.squash = squash
        if on_degenerate not in ("raise", "zero"):
            raise ValueError(f"on_degenerate must be 'raise' or 'zero', got {on_degenerate!r}")
        self.on_degenerate = on_degenerate
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
        self.scope = scope
        k = _check_int(k, "k", 1)
        self.metric = resolve_metric(metric, k=k, radius=radius, layout=layout)
        self.metric_name = metric if isinstance(metric, str) else self.metric.name
        num_anchors = _check_int(num_anchors, "num_anchors", 0)
        self.num_good = _check_int(num_anchors if num_good is None else num_good, "num_good", 0)
        self.num_bad = _check_int(num_anchors if num_bad is None else num_bad, "num_bad", 0)
        self.num_nearby = _check_int(
            num_anchors if num_nearby is None else num_nearby, "num_nearby", 0
        )
        if not isinstance(include_truth, bool):
            raise ValueError(f"include_truth must be a bool, got {include_truth!r}")
        self.include_truth = include_truth
        if self.num_good + self.num_bad + self.num_nearby + int(include_truth) == 0:
            raise ValueError("num_anchors must be ≥ 1 when include_truth is False")
        self.temperature = _check_float(temperature, "temperature")
        self.power = _check_float(power, "power")
        self.subsample = check_subsample(subsample)
        self.flip_bits = _check_int(flip_bits, "flip_bits", 1)
        if nearby not in NEARBY_MODES:
            raise ValueError(f"nearby must be one of {NEARBY_MODES}, got {nearby!r}")
        self.nearby = nearby
        if distance not in DISTANCES:
            raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")
        self.distance = distance
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        if generator is None and seed is not None:
            generator = torch.Generator().manual_seed(_check_int(seed, "seed", 0))
        self.generator = generator
        self.last_surrogate: torch.Tensor | None = None
        self.last_metric: torch.Tensor | None = None

    # ------------------------------------------------------------------ pieces
    def comparisons(self, input: torch.Tensor, target: torch.Tensor) -> Comparisons:
        """Validated (and subsampled) comparisons of ``input`` against ``target``."""
        comps = self.metric.refactor(input, target)
        if self.squash:  # 2·sigmoid(s) − 1 = tanh(s/2): odd and increasing, signs are kept
            comps = Comparisons(
                torch.tanh(comps.pos / 2), torch.tanh(comps.neg / 2), comps.valid, comps.extra
            )
        return subsample(comps, self.subsample, self.generator)

    def sample_anchors(
        self, comps: Comparisons, current: torch.Tensor | None = None
    ) -> Anchors:
        """Anchors around the current configuration ``[c > 0]`` of ``comps``."""
        if current is None:
            with torch.no_grad():
                current = comps.hard_binaries()
        return sample_anchors(
            current,
            comps.valid_mask(),
            num_good=self.num_good,
            num_bad=self.num_bad,
            num_nearby=self.num_nearby,
            flip_bits=self.flip_bits,
            nearby=self.nearby,
            include_truth=self.include_truth,
            generator=self.generator,
        )

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
        comps = self.comparisons(input, target)
        valid = comps.valid_mask()
        with torch.no_grad():
            c = comps.differences()
            current = c > 0
            if valid is not None:
                current |= ~valid
            if anchors is None:
                anchors = self.sample_anchors(comps, current)
            elif not isinstance(anchors, Anchors):
                anchors = Anchors.from_bits(anchors)
            if tuple(anchors.shape) != comps.shape:
                raise ValueError(
                    f"anchors must have shape (A, {', '.join(map(str, comps.shape))}), "
                    f"got (A, {', '.join(map(str, anchors.shape))})"
                )
            # one evaluation of g for the anchors and (last row) the current configuration
            bits = anchors.bits_with(current)
            values = self.metric.evaluate(bits, comps)
            self.last_metric = values[-1]
        if self.distance == "euclidean":
            value = relaxed_idw(
                comps.pos, comps.neg, bits[:-1], values[:-1], self.temperature, self.power,
                valid, c,
            )
        else:
            u = sigmoid_relaxation(comps.differences(), self.temperature, valid)
            value = idw(u, bits[:-1], values[:-1], self.power, self.distance)
        self.last_surrogate = value.detach()
        return value

    def forward(
        self, input: torch.Tensor, target: torch.Tensor, features: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``1 − g̃``: the loss to minimise (``features`` is ignored)."""
        if self.scope == "global":
            input, target = gather_batch(input), gather_batch(target)
        try:
            return 1.0 - self.surrogate(input, target)
        except DegenerateBatchError:
            if self.on_degenerate == "raise":
                raise
            self.last_surrogate = self.last_metric = None
            return (input * 0.0).sum()

    def extra_repr(self) -> str:
        return (
            f"metric={self.metric_name!r}, anchors=(good={self.num_good}, bad={self.num_bad}, "
            f"nearby={self.num_nearby}, truth={self.include_truth}), T={self.temperature}, "
            f"power={self.power}, subsample={self.subsample}, flip_bits={self.flip_bits}, "
            f"scope={self.scope!r}"
        )
