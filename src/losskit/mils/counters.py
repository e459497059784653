"""Per-epoch MILS counters (paper Fig. 6: auxiliary attempts vs successful updates per epoch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class MILSStats:
    """Counters of one epoch (:meth:`~losskit.mils.MILS.reset_stats` starts new ones).

    * ``attempts``: steps on which an auxiliary loss was drawn to perform the update;
    * ``successes`` (alias ``accepted``): attempts whose auxiliary update stands (it passed the
      acceptance test, or always under ``no_schedule`` when finite); ``rollbacks``: the others —
      undone (``accept="observation"``), not applied (``"gradient"``) or applied with the
      conflicting component projected out (``"project"``, also counted in ``projected``);
      ``attempts == successes + rollbacks`` always;
    * ``ties``: attempts the test could not order (equal observation accuracy; a gradient
      cosine of exactly 0, e.g. a zero auxiliary gradient) — accepted iff ``accept_ties``;
    * ``nonfinite``: attempts rejected because the auxiliary loss, the gradient, the updated
      parameters or the observation logits were not finite (part of ``rollbacks``);
    * ``extra_forwards``: forward passes a plain primary step would not make — one per
      observation chunk evaluated (two evaluations per scheduled attempt, merged into one
      host synchronisation) plus, on a rollback, the discarded auxiliary forward; always 0 under
      the gradient tests (they cost one extra backward instead);
    * ``extra_time_s``: wall time of scheduled attempts minus the time of the one update that
      stands (snapshot, evaluations, rollback and the discarded update; under the gradient
      tests: the auxiliary backward and the cosine);
    * ``aux_attempts`` / ``aux_successes``: the same two counts per auxiliary loss name.
    """

    attempts: int = 0
    successes: int = 0
    rollbacks: int = 0
    ties: int = 0
    nonfinite: int = 0
    projected: int = 0
    extra_forwards: int = 0
    extra_time_s: float = 0.0
    aux_attempts: dict[str, int] = field(default_factory=dict)
    aux_successes: dict[str, int] = field(default_factory=dict)

    @property
    def accepted(self) -> int:
        """Same as ``successes``."""
        return self.successes

    @property
    def success_ratio(self) -> float | None:
        """``successes / attempts``; ``None`` when there was no attempt."""
        return self.successes / self.attempts if self.attempts else None

    def record(
        self,
        aux: str,
        accepted: bool,
        tie: bool = False,
        nonfinite: bool = False,
        projected: bool = False,
    ) -> None:
        """Count one auxiliary attempt of loss ``aux``."""
        self.attempts += 1
        self.ties += int(tie)
        self.nonfinite += int(nonfinite)
        self.projected += int(projected)
        self.aux_attempts[aux] = self.aux_attempts.get(aux, 0) + 1
        self.aux_successes.setdefault(aux, 0)
        if accepted:
            self.successes += 1
            self.aux_successes[aux] += 1
        else:
            self.rollbacks += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "attempts": self.attempts,
            "successes": self.successes,
            "rollbacks": self.rollbacks,
            "ties": self.ties,
            "nonfinite": self.nonfinite,
            "projected": self.projected,
            "extra_forwards": self.extra_forwards,
            "extra_time_s": self.extra_time_s,
            "aux_attempts": dict(self.aux_attempts),
            "aux_successes": dict(self.aux_successes),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MILSStats:
        return cls(
            attempts=int(d.get("attempts", 0)),
            successes=int(d.get("successes", 0)),
            rollbacks=int(d.get("rollbacks", 0)),
            ties=int(d.get("ties", 0)),
            nonfinite=int(d.get("nonfinite", 0)),
            projected=int(d.get("projected", 0)),
            extra_forwards=int(d.get("extra_forwards", 0)),
            extra_time_s=float(d.get("extra_time_s", 0.0)),
            aux_attempts=dict(d.get("aux_attempts", {})),
            aux_successes=dict(d.get("aux_successes", {})),
        )
