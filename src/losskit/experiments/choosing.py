"""Suites ``noise``, ``imbalance``, ``weighting`` (issue #26): where the choice of loss matters.

``losskit reproduce noise --jobs 2`` (and ``imbalance``, ``weighting``). Fashion-MNIST
(``apt-get install dataset-fashion-mnist``) with the paper suite's protocol
(:mod:`losskit.experiments.paper`): LeNet, 15 epochs, SGD + momentum 0.9, batch 128, cosine
schedule, a stratified 10 % validation split drawn from each run's seed
(``split_seed="run"``: the seed also draws the label noise and the long-tail subset), every row
tuned on :data:`~losskit.experiments.paper.LR_GRID` (0.01, 0.0316, 0.1, extended at an end;
tuning seeds 100, 101) except MILS rows, which reuse their CE primary's rate (as in p5), then 5
seeds (0–4). Hyper-parameters of the losses are their papers' defaults (GCE ``q = 0.7``; SCE
``α = 0.1, β = 1``; NCE+RCE ``α = β = 1``; focal ``γ = 2``; logit adjustment ``τ = 1``;
class-balanced ``β = 0.9999``; LDAM-DRW re-weights from epoch 13 of 15, the paper's 160 of 200).

==============  =============================================================================
N1 ``noise``    Fashion-MNIST with symmetric 40 %, 80 % and asymmetric 40 % label noise (train
                and validation noisy, test clean; :mod:`losskit.data.noise`): CE, MAE
                (``prob_mae``), GCE, SCE, NCE+RCE; SLF (joint, bilevel), fixed sum and
                uncertainty weighting over {CE, MAE, RCE, prob_MSE}; MILS (CE primary,
                auxiliaries MAE and RCE). ``n1-*``: clean test accuracy at the best-validation
                epoch (validation is noisy: the realistic early stopping); ``n1-*-memorised``:
                the share of noisy training labels the model fits at the final epoch
                (``train_memorised``, lower is better; :mod:`losskit.train.labels`).
I1 ``imbalance`` Long-tailed Fashion-MNIST, ρ = 10 and 100 (:mod:`losskit.data.longtail`;
                balanced test set): CE, focal, class-balanced CE, logit adjustment, LDAM-DRW;
                SLF, fixed sum and uncertainty weighting over {CE, focal, logit-adjusted CE};
                UniLoss on balanced accuracy. ``i1-*``: test balanced accuracy at the epoch of
                the best validation balanced accuracy (on the balanced test set it equals test
                accuracy); ``i1-lt100-many`` / ``-medium``: the shot splits at the final epoch.
W1 ``weighting`` Symmetric 40 % noise, candidates {CE, MAE, RCE} (a bounded, a symmetric and
                an unbounded loss: where N1's single losses differ most by design): fixed sum
                vs uncertainty vs DWA vs GradNorm vs PCGrad (MILS ``accept="project"`` at
                participation 1) vs SLF (joint, bilevel) vs MILS.
==============  =============================================================================

Evidence: the robust losses against CE (N1) and the long-tail remedies against CE (I1) test
their papers' claims on other data and models (``proxy``; one Holm family per literature);
every other comparison (SLF, MILS, the weighting methods, UniLoss) is ``exploratory``.
Secondary metrics are separate experiments over the same runs (same configs, run once) whose
rows take the primary experiment's tuned rate; they are read at the final epoch.

Shot splits: many > 100 training samples, few < 20, medium 20–100
(:data:`~losskit.train.evaluation.SHOT_THRESHOLDS`). On Fashion-MNIST at ρ = 100 the training
counts run 5,400 … 54 (after the validation split), so no class is few-shot and only classes 8
and 9 are medium: ``few`` is not reported.

Cost (``losskit reproduce SUITE --dry-run --jobs 2``, 2 CPU cores, before grid extensions):
``noise`` 312 runs ≈ 5.0 h, ``imbalance`` 198 runs ≈ 1.1 h, ``weighting`` 82 runs ≈ 1.4 h
(6 of them ``n1-sym40``'s CE tuning, shared with ``noise``) — about 7.5 h together, up to about
10 h if every choice needs both grid extensions; no trimmed variant is needed.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from losskit.experiments.paper import FASHION_LENET, LR_GRID, SPLIT
from losskit.experiments.spec import (
    REPORT_SEEDS,
    Experiment,
    Variant,
    register,
    register_suite,
)

SEEDS = REPORT_SEEDS
ROBUST = "ce,prob_mae,rce,prob_mse"  # N1's candidates: CE, MAE, RCE, prob-MSE
LONG_TAIL = "ce,focal,logit_adjusted_ce"  # I1's candidates
W1_LOSSES = "ce,prob_mae,rce"
DRW_FRACTION = 0.8  # LDAM-DRW re-weights from 80 % of training (Cao et al.: epoch 160 of 200)

NOISE_PAPERS = "label-noise losses"
LONG_TAIL_PAPERS = "long-tail losses"
_NOISE_CLAIM = ("Bounded, symmetric and active-passive losses (MAE; GCE, Zhang & Sabuncu 2018; "
                "SCE, Wang et al. 2019; NCE+RCE, Ma et al. 2020) beat CE under label noise "
                "(CIFAR-10/100 there).")
_NOISE_CLAIM_NAME = "robust losses > CE under label noise"
_LT_CLAIM = ("Focal loss, class-balanced weights (Cui et al. 2019), logit adjustment (Menon et "
             "al. 2021) and LDAM-DRW (Cao et al. 2019) beat CE on balanced accuracy of "
             "long-tailed training sets (CIFAR-LT there).")
_LT_CLAIM_NAME = "long-tail remedies > CE on balanced accuracy"


def loss(name: str, loss_name: str, evidence: str | None = None, **kwargs: Any) -> Variant:
    """One loss of the zoo (``--method loss``) with its keyword arguments."""
    return Variant(name, {"method": "loss", "method_kwargs": {"loss": loss_name, **kwargs}},
                   evidence=evidence)


def method(name: str, method_name: str, **kwargs: Any) -> Variant:
    return Variant(name, {"method": method_name, "method_kwargs": kwargs})


def combiners(losses: str, bilevel: bool = True) -> list[Variant]:
    """SLF (joint; bilevel), the fixed sum and uncertainty weighting over ``losses``."""
    rows = [method("SLF joint", "slf", losses=losses, k=3)]
    if bilevel:
        rows.append(method("SLF bilevel", "slf", losses=losses, k=3, update="bilevel"))
    return rows + [method("fixed sum", "fixed", losses=losses),
                   method("uncertainty", "uncertainty", losses=losses)]


def mils(name: str, aux: str, tune_from: str = "CE", **kwargs: Any) -> Variant:
    """MILS with CE primary and auxiliaries ``aux`` at its CE primary's rate."""
    kw = {"primary": "ce", "aux": aux, "participation": 0.1, "observation_size": 128,
          "accept_ties": False, **kwargs}
    return Variant(name, {"method": "mils", "method_kwargs": kw}, tune_from=tune_from)


def _pair(name: str, title: str, base: dict[str, Any], variants: list[Variant], *,
          metric: str, extra: dict[str, tuple[str, bool, str]], **fields: Any) -> list[str]:
    """Register the primary experiment ``name`` (``metric`` at the best-validation epoch, every
    row tuned) and one experiment per ``extra`` metric (suffix → (metric, higher is better,
    title)) over the same runs at the primary's rates, read at the final epoch."""
    main = register(Experiment(
        name=name, title=title, base=base, variants=variants, seeds=SEEDS,
        baseline=variants[0].name, metric=metric, select="best_val", split_seed="run",
        tuning=LR_GRID, fidelity="proxy", **fields))
    names = [main.name]
    for tail, (key, higher, what) in extra.items():
        rows = [replace(v, tune_from="/".join(main.source(v.name) or ()), tuning=None,
                        evidence="exploratory", versus=None, claim=None)
                for v in variants]
        names.append(register(Experiment(
            name=f"{name}-{tail}", title=f"{title}: {what}", base=base,
            variants=rows, seeds=SEEDS, baseline=rows[0].name, metric=key,
            higher_is_better=higher, select="final", split_seed="run", fidelity="proxy",
            evidence="exploratory", paper=fields.get("paper", ""),
            notes=f"The runs of {main.name} (same configs, run once), read at the final "
                  f"epoch. {fields.get('notes', '')}")).name)
    return names


# ---------------------------------------------------------------------------- N1: label noise
NOISE_SETTINGS = {"sym40": ("symmetric", 0.4), "sym80": ("symmetric", 0.8),
                  "asym40": ("asymmetric", 0.4)}


def noise_variants() -> list[Variant]:
    proxy = "proxy"
    return [loss("CE", "ce"), loss("MAE", "prob_mae", proxy), loss("GCE", "gce", proxy),
            loss("SCE", "sce", proxy), loss("NCE+RCE", "nce+rce", proxy),
            *combiners(ROBUST), mils("MILS +MAE,RCE", "prob_mae,rce")]


def noise_base(kind: str, rate: float) -> dict[str, Any]:
    return {**FASHION_LENET, "data_kwargs": {**SPLIT, "noise": kind, "noise_rate": rate}}


def _noise() -> list[str]:
    names: list[str] = []
    for key, (kind, rate) in NOISE_SETTINGS.items():
        names += _pair(
            f"n1-{key}", f"N1 {kind} label noise {rate:.0%}, Fashion-MNIST LeNet",
            noise_base(kind, rate), noise_variants(), metric="test_acc",
            extra={"memorised": ("train_memorised", False,
                                 "share of noisy training labels fitted")},
            claim=_NOISE_CLAIM, claim_name=_NOISE_CLAIM_NAME, paper=NOISE_PAPERS,
            evidence="exploratory",
            notes="Train and validation labels noisy, test clean. MAE is prob_mae "
                  "(‖softmax − one-hot‖₁). MILS runs at CE's rate.")
    return names


# ---------------------------------------------------------------------------- I1: long tail
def imbalance_variants(epochs: int) -> list[Variant]:
    proxy = "proxy"
    cb = {"class_balanced_beta": 0.9999}
    return [loss("CE", "ce"), loss("focal", "focal", proxy),
            loss("class-balanced CE", "ce", proxy, **cb),
            loss("logit adjustment", "logit_adjusted_ce", proxy),
            loss("LDAM-DRW", "ldam", proxy, **cb, drw_epoch=int(DRW_FRACTION * epochs)),
            *combiners(LONG_TAIL, bilevel=False),
            method("UniLoss balanced accuracy", "uniloss", metric="balanced_accuracy")]


def _imbalance() -> list[str]:
    names: list[str] = []
    for ratio in (10, 100):
        base = {**FASHION_LENET, "data_kwargs": {**SPLIT, "imbalance": "long_tail",
                                                 "imbalance_ratio": ratio}}
        extra = {} if ratio != 100 else {
            "many": ("test_many_acc", True, "many-shot accuracy (> 100 training samples)"),
            "medium": ("test_medium_acc", True, "medium-shot accuracy (20–100)")}
        names += _pair(
            f"i1-lt{ratio}", f"I1 long-tailed Fashion-MNIST, ρ = {ratio}, LeNet",
            base, imbalance_variants(FASHION_LENET["epochs"]), metric="test_bal_acc",
            extra=extra, claim=_LT_CLAIM, claim_name=_LT_CLAIM_NAME,
            paper=LONG_TAIL_PAPERS, evidence="exploratory",
            notes="Validation has the training profile; the test set is balanced (test "
                  "accuracy = balanced accuracy). Few-shot (< 20 samples): no class at "
                  "ρ = 100 on Fashion-MNIST.")
    return names


# ---------------------------------------------------------------------------- W1: weighting
def weighting_variants(ce_from: str) -> list[Variant]:
    return [method("fixed sum", "fixed", losses=W1_LOSSES),
            method("uncertainty", "uncertainty", losses=W1_LOSSES),
            method("DWA", "dwa", losses=W1_LOSSES),
            method("GradNorm", "gradnorm", losses=W1_LOSSES),
            mils("PCGrad", "prob_mae,rce", tune_from=ce_from, accept="project",
                 participation=1.0),
            method("SLF joint", "slf", losses=W1_LOSSES, k=3),
            method("SLF bilevel", "slf", losses=W1_LOSSES, k=3, update="bilevel"),
            mils("MILS +MAE,RCE", "prob_mae,rce", tune_from=ce_from)]


def _weighting() -> list[str]:
    return _pair(
        "w1-weighting", "W1 multi-loss weighting over {CE, MAE, RCE}, symmetric 40 % noise, "
        "Fashion-MNIST LeNet", noise_base("symmetric", 0.4),
        weighting_variants("n1-sym40/CE"), metric="test_acc",
        extra={"memorised": ("train_memorised", False, "share of noisy training labels fitted")},
        paper="", evidence="exploratory",
        notes="Baseline: the fixed sum (weights 1). PCGrad and MILS run at N1's CE rate "
              "(n1-sym40/CE); PCGrad is MILS accept='project' with participation 1 (every step "
              "CE plus an auxiliary, the auxiliary's gradient projected off CE's when they "
              "conflict).")


register_suite("noise", _noise())
register_suite("imbalance", _imbalance())
register_suite("weighting", _weighting())
