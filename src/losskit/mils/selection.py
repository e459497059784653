"""Which auxiliary loss (if any) performs this step's update.

The paper (§4, "Framework") draws, each iteration, whether an auxiliary loss participates with
the *participation rate* and, with several auxiliaries, which one; its formulas were lost in
extraction, so the choices here are ours and configurable:

* participation: Bernoulli(``participation``) per step, from a private ``torch.Generator``
  (never the global RNG, so the training stream is untouched);
* ``"uniform"``: the participating auxiliary is drawn uniformly;
* ``"adaptive"``: auxiliary ``k`` is drawn with probability proportional to its smoothed
  lifetime success ratio ``(s_k + 1) / (a_k + 2)`` (posterior mean of a Beta(1, 1) prior after
  ``s_k`` kept updates out of ``a_k`` attempts), so a loss that keeps being rolled back is tried
  less but never abandoned.
"""

from __future__ import annotations

from typing import Any

import torch

from losskit.core._validation import checks, choice, number

SELECTIONS = ("uniform", "adaptive")


#: the declared check of a participation rate (MILS, its selector, its method options)
PARTICIPATION = number(low=0.0, high=1.0)


class AuxSelector:
    """Draws ``None`` (primary step) or the index of the auxiliary loss that trains this step."""

    @checks(participation=PARTICIPATION, mode=choice(*SELECTIONS))
    def __init__(
        self,
        num_aux: int,
        participation: float,
        mode: str = "uniform",
        generator: torch.Generator | None = None,
    ) -> None:
        if num_aux < 1:
            raise ValueError(f"auxiliaries must name at least one loss, got {num_aux}")
        self.num_aux = num_aux
        self.participation = participation
        self.mode = mode
        if generator is None:
            generator = torch.Generator().manual_seed(0)
        if generator.device.type != "cpu":
            raise ValueError(f"generator must be a CPU torch.Generator, got {generator.device}")
        self.generator = generator
        self.attempts = [0] * num_aux
        self.successes = [0] * num_aux

    def probabilities(self) -> list[float]:
        """Current probability of each auxiliary given that one participates."""
        if self.mode == "uniform":
            return [1.0 / self.num_aux] * self.num_aux
        w = [(s + 1) / (a + 2) for s, a in zip(self.successes, self.attempts, strict=True)]
        total = sum(w)
        return [x / total for x in w]

    def draw(self) -> int | None:
        """One Bernoulli(participation) draw, then (if it fires) the auxiliary's index."""
        # a CPU generator's draw read through numpy: a host value, never a device sync
        u = float(torch.rand((), generator=self.generator, dtype=torch.float64).numpy())
        if not u < self.participation:
            return None
        if self.num_aux == 1:
            return 0
        if self.mode == "uniform":
            return int(torch.randint(self.num_aux, (), generator=self.generator))
        probs = torch.tensor(self.probabilities(), dtype=torch.float64)
        return int(torch.multinomial(probs, 1, generator=self.generator))

    def update(self, index: int, accepted: bool) -> None:
        """Record the outcome of auxiliary ``index``'s attempt (feeds ``"adaptive"``)."""
        self.attempts[index] += 1
        self.successes[index] += int(bool(accepted))

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.get_state(),
            "attempts": list(self.attempts),
            "successes": list(self.successes),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.attempts = [int(a) for a in state["attempts"]]
        self.successes = [int(s) for s in state["successes"]]
