"""Anchor generators (§3.4.2): counts, bits flipped, invalid entries, quality."""

from __future__ import annotations

import pytest
import torch

from losskit.uniloss import METRICS, sample_anchors
from losskit.uniloss.anchors import BAD, GOOD, NEARBY, TRUTH


def current_config(seed: int = 0, shape=(6, 1, 9)):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) < 0.7


def hamming(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a ^ b).flatten(1).sum(1)


@pytest.mark.parametrize("counts", [(16, 16, 16), (5, 0, 3), (0, 7, 0)])
def test_counts_and_order(counts):
    good, bad, nearby = counts
    cur = current_config()
    a = sample_anchors(cur, None, good, bad, nearby, generator=torch.Generator().manual_seed(0))
    assert len(a) == 1 + good + bad + nearby
    assert a.bits.shape == (len(a), *cur.shape) and a.bits.dtype == torch.bool
    assert a.counts() == {"truth": 1, "good": good, "bad": bad, "nearby": nearby}
    expected = [TRUTH] + [GOOD] * good + [BAD] * bad + [NEARBY] * nearby
    assert a.kind.tolist() == expected
    assert bool(a.bits[0].all())  # the ground truth: every comparison won
    no_truth = sample_anchors(cur, None, good, bad, nearby, include_truth=False)
    assert len(no_truth) == good + bad + nearby


@pytest.mark.parametrize("flip_bits", [1, 2, 5])
def test_bits_flipped(flip_bits):
    cur = current_config(1)
    g = torch.Generator().manual_seed(3)
    a = sample_anchors(cur, None, 8, 8, 8, flip_bits=flip_bits, generator=g)
    truth = torch.ones_like(cur)
    good = a.bits[a.kind == GOOD]
    nearby = a.bits[a.kind == NEARBY]
    assert (hamming(good, truth.expand_as(good)) == flip_bits).all()
    assert (hamming(nearby, cur.expand_as(nearby)) == flip_bits).all()


def test_nearby_toward_truth_only_turns_zeros_into_ones():
    cur = current_config(2)
    wrong = int((~cur).sum())
    for flip_bits in (1, 3, wrong + 5):
        a = sample_anchors(cur, None, 0, 0, 10, flip_bits=flip_bits, nearby="toward_truth")
        nearby = a.bits[a.kind == NEARBY]
        assert bool((nearby >= cur).all())  # never 1 → 0
        assert (hamming(nearby, cur.expand_as(nearby)) == min(flip_bits, wrong)).all()
    perfect = torch.ones_like(cur)
    a = sample_anchors(perfect, None, 0, 0, 4, nearby="toward_truth")
    assert bool(a.bits.all())


def test_invalid_entries_are_one_and_never_flipped():
    cur = current_config(3, shape=(4, 2, 5))
    valid = torch.ones_like(cur)
    valid[:, :, 0] = False
    cur = cur | ~valid
    a = sample_anchors(cur, valid, 16, 16, 16, flip_bits=2, generator=torch.Generator())
    assert bool(a.bits[:, ~valid].all())
    good = a.bits[a.kind == GOOD]
    assert (hamming(good, torch.ones_like(good)) == 2).all()


def test_seeded_generator_is_deterministic():
    cur = current_config(4)
    a1 = sample_anchors(cur, None, 4, 4, 4, generator=torch.Generator().manual_seed(7))
    a2 = sample_anchors(cur, None, 4, 4, 4, generator=torch.Generator().manual_seed(7))
    a3 = sample_anchors(cur, None, 4, 4, 4, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a1.bits, a2.bits) and not torch.equal(a1.bits, a3.bits)


def test_good_anchors_score_higher_than_bad_ones():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(128, 10, generator=g)
    y = torch.randint(0, 10, (128,), generator=g)
    metric = METRICS.get("accuracy")
    comps = metric.refactor(logits, y)
    a = sample_anchors(comps.hard_binaries(), None, 16, 16, 16, generator=g)
    values = metric.evaluate(a.bits, comps)
    assert float(values[a.kind == TRUTH]) == 1.0
    assert torch.allclose(values[a.kind == GOOD], torch.full((16,), 127 / 128, dtype=values.dtype))
    assert float(values[a.kind == GOOD].mean()) > float(values[a.kind == BAD].mean()) + 0.9
    for name, scores in (("ap", logits[:, 0]), ("auc", logits[:, 0])):
        yb = (y == 0).long()
        m = METRICS.get(name)
        comps = m.refactor(scores, yb)
        a = sample_anchors(comps.hard_binaries(), None, 16, 16, 16, generator=g)
        v = m.evaluate(a.bits, comps)
        assert float(v[a.kind == GOOD].mean()) > float(v[a.kind == BAD].mean())


def test_bad_arguments():
    cur = current_config()
    with pytest.raises(ValueError, match="flip_bits"):
        sample_anchors(cur, flip_bits=0)
    with pytest.raises(ValueError, match="nearby"):
        sample_anchors(cur, nearby="far")
    with pytest.raises(ValueError, match="num_bad"):
        sample_anchors(cur, num_bad=-1)
    with pytest.raises(ValueError, match="at least one anchor"):
        sample_anchors(cur, None, 0, 0, 0, include_truth=False)


def _pck_case(seed=0, n=3, side=6, radius=1.0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, side * side, generator=g, dtype=torch.float64)
    target = torch.randint(0, side * side, (n,), generator=g)
    comps = METRICS.get("pck", radius=radius).refactor(logits, target)
    return comps, comps.hard_binaries(), comps.valid_mask()


@pytest.mark.parametrize("nearby", ["random", "toward_truth"])
def test_score_unit_sets_all_binaries_of_one_pixel(nearby):
    """Paper appendix A (pose): a nearby anchor changes every binary of one pixel."""
    comps, cur, valid = _pck_case()
    a = sample_anchors(cur, valid, 0, 0, 10, nearby=nearby, unit="score",
                       generator=torch.Generator().manual_seed(1))
    rows = a.bits[a.kind == NEARBY]
    assert rows.shape == (10, *cur.shape)
    _, p, q = cur.shape
    for k, row in enumerate(rows):
        g, i, j = (int(v) for v in torch.unravel_index(a.nearby_pos[k, 0], cur.shape))
        expected = cur.clone()
        if k < 5:  # a positive pixel now beats every negative pixel
            expected[g, i, :] = True
        else:  # a negative pixel now beats every positive (toward_truth: loses to every one)
            assert bool(valid[g, 0, j])
            expected[g, :, j] = nearby == "toward_truth"
        assert torch.equal(row, expected | ~valid)


def test_score_unit_changes_a_whole_pixel_not_one_bit():
    comps, cur, valid = _pck_case(seed=2)
    g = torch.Generator().manual_seed(0)
    pixel = sample_anchors(cur, valid, 0, 0, 16, unit="score", generator=g)
    bit = sample_anchors(cur, valid, 0, 0, 16, unit="bit", generator=g)
    p_dist = hamming(pixel.bits[pixel.kind == NEARBY], cur.expand(16, *cur.shape))
    b_dist = hamming(bit.bits[bit.kind == NEARBY], cur.expand(16, *cur.shape))
    assert (b_dist == 1).all()
    assert int(p_dist.max()) > 1  # some pixel's binaries were not all set already


def test_pck_defaults_to_whole_pixels():
    from losskit.uniloss import UniLoss

    assert UniLoss("pck").nearby_unit == "score"
    assert UniLoss("pck", nearby_unit="bit").nearby_unit == "bit"
    assert UniLoss("accuracy").nearby_unit == "bit"
    with pytest.raises(ValueError, match="nearby_unit"):
        UniLoss("pck", nearby_unit="pixel")


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"flip_bits": 3},
        {"nearby": "toward_truth"},
        {"unit": "score"},
        {"unit": "score", "flip_bits": 2, "nearby": "toward_truth"},
    ],
)
def test_lost_counts_from_structure_equal_counts_of_the_bits(options):
    from losskit.uniloss.metrics import lost_counts

    for _, cur, valid in (_pck_case(3), _pck_case(4, radius=0.0)):
        a = sample_anchors(cur, valid, 5, 4, 6, generator=torch.Generator().manual_seed(5),
                           **options)
        base = lost_counts(cur.unsqueeze(0))[0].reshape(-1)
        direct = lost_counts(a.bits).reshape(len(a), -1)
        assert torch.equal(a.lost_counts(base), direct.to(torch.float32))


def test_too_few_flippable_bits_pad_without_changes():
    cur = torch.ones(1, 1, 3, dtype=torch.bool)
    cur[0, 0, 1] = False
    a = sample_anchors(cur, None, 2, 0, 2, flip_bits=5, nearby="toward_truth")
    near = a.bits[a.kind == NEARBY]
    assert bool(near.all())  # the one wrong bit flipped, the rest is padding
    good = a.bits[a.kind == GOOD]
    assert (hamming(good, torch.ones_like(good)) == 3).all()  # min(flip_bits, L)
