"""Cheap, bitwise-exact snapshot / rollback of everything one training update can change.

MILS (paper §4, Algorithm "MILS scheduling") reloads "the last model parameters" and optimizer
state when an auxiliary update lowers observation accuracy. Doing that with ``copy.deepcopy`` on
every auxiliary step would cost more than the step itself, so :class:`TrainingStateSnapshot`
copies tensors into buffers allocated once (``torch._foreach_copy_``) and restores them in place
with the same primitive: both directions are plain memory copies, hence bitwise exact.

Captured state:

* parameters and buffers of the given modules (model, loss modules — e.g. center-loss centres,
  BatchNorm running statistics and ``num_batches_tracked``) and every parameter the optimizer
  holds;
* optimizer per-parameter state (momentum buffers, Adam moments, ``step`` counts; tensors copied
  into preallocated buffers, non-tensor values shallow-copied) and per-group hyper-parameters;
  state entries created by the update (lazy optimizer state) are deleted on restore;
* ``scheduler.state_dict()`` and ``scaler.state_dict()`` (shallow copies; lists copied one level);
* the global CPU RNG state (and the CUDA one of the parameters' device), so that a rolled-back
  update leaves the training random stream (dropout masks, …) exactly where it was;
* the private state of the modules' submodules: ``get_extra_state()`` where a module defines it
  (SLF's step count and generator) and every ``torch.Generator`` attribute (UniLoss's anchor
  generator), so that a loss module used by a rolled-back update is rewound too.

``keep`` names tensors (MILS: the class statistics of parametric auxiliaries, see
:mod:`losskit.mils.statistics`) that :meth:`~TrainingStateSnapshot.restore` may leave as they
are: ``restore(keep=True)`` rolls back everything else (their optimizer state included) and
leaves them updated; ``restore(keep=False)`` rolls back everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn


def _shallow_state(state: dict[str, Any]) -> dict[str, Any]:
    """Copy a ``state_dict`` one level deep (lists/dicts copied, leaves shared)."""
    out: dict[str, Any] = {}
    for key, value in state.items():
        if isinstance(value, list):
            value = list(value)
        elif isinstance(value, dict):
            value = dict(value)
        out[key] = value
    return out


def _unique_tensors(tensors: Iterable[torch.Tensor]) -> list[torch.Tensor]:
    seen: set[int] = set()
    out: list[torch.Tensor] = []
    for t in tensors:
        if id(t) not in seen:
            seen.add(id(t))
            out.append(t)
    return out


def _overrides_extra_state(module: nn.Module) -> bool:
    return type(module).get_extra_state is not nn.Module.get_extra_state


class TrainingStateSnapshot:
    """Preallocated copy of model / loss / optimizer / scheduler / scaler / RNG state.

    Call :meth:`capture` before a tentative update and :meth:`restore` to undo it. Buffers are
    allocated on the first :meth:`capture` (never when nothing is captured) and re-used; they are
    reallocated only when the optimizer's state layout changes (lazy state creation).

    >>> net = nn.Linear(2, 1)
    >>> opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    >>> snap = TrainingStateSnapshot([net], opt)
    >>> before = net.weight.clone()
    >>> snap.capture(); net(torch.ones(1, 2)).sum().backward(); opt.step(); snap.restore()
    >>> torch.equal(net.weight, before)
    True
    """

    def __init__(
        self,
        modules: Iterable[nn.Module],
        optimizer: torch.optim.Optimizer,
        scheduler: Any = None,
        scaler: Any = None,
        rng: bool = True,
        keep: Iterable[torch.Tensor] = (),
    ) -> None:
        self.modules = [m for m in modules if isinstance(m, nn.Module)]
        self._keep_ids = {id(t) for t in keep}
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.scaler = scaler
        self.rng = rng
        self._live: list[torch.Tensor] = []
        self._saved: list[torch.Tensor] | None = None
        # optimizer state layout and buffers
        self._opt_layout: list[tuple[torch.Tensor, str, torch.Size, torch.dtype]] | None = None
        self._opt_saved: list[torch.Tensor] = []
        self._opt_other: dict[int, dict[str, Any]] = {}
        self._opt_params: dict[int, torch.Tensor] = {}
        self._group_hyper: list[dict[str, Any]] = []
        self._scheduler_state: dict[str, Any] | None = None
        self._scaler_state: dict[str, Any] | None = None
        self._cpu_rng: torch.Tensor | None = None
        self._cuda_rng: tuple[int, torch.Tensor] | None = None
        # private module state: (module, extra state) and (generator, state)
        self._extra: list[tuple[nn.Module, Any]] = []
        self._generators: list[tuple[torch.Generator, torch.Tensor]] = []
        self.captured = False

    # ------------------------------------------------------------------ capture
    def _collect_live(self) -> list[torch.Tensor]:
        """Parameters and buffers, looked up afresh (a module may have been moved / re-bound)."""
        live: list[torch.Tensor] = []
        for module in self.modules:
            live.extend(module.parameters())
            live.extend(module.buffers())
        for group in self.optimizer.param_groups:
            live.extend(group["params"])
        return _unique_tensors(live)

    def _optimizer_tensors(
        self,
    ) -> tuple[list[tuple[torch.Tensor, str, torch.Size, torch.dtype]], list[torch.Tensor]]:
        layout, values = [], []
        for param, state in self.optimizer.state.items():
            for key, value in state.items():
                if isinstance(value, torch.Tensor):
                    layout.append((param, key, value.shape, value.dtype))
                    values.append(value.detach())
        return layout, values

    @staticmethod
    def _same_layout(a: list | None, b: list) -> bool:
        if a is None or len(a) != len(b):
            return False
        return all(
            x[0] is y[0] and x[1] == y[1] and x[2] == y[2] and x[3] == y[3]
            for x, y in zip(a, b, strict=True)
        )

    @torch.no_grad()
    def capture(self) -> None:
        """Copy the current state into the snapshot buffers."""
        live = self._collect_live()
        same = (
            self._saved is not None
            and len(live) == len(self._live)
            and all(
                a is b and a.shape == c.shape and a.dtype == c.dtype and a.device == c.device
                for a, b, c in zip(live, self._live, self._saved, strict=True)
            )
        )
        self._live = live
        if not same:
            self._saved = [t.detach().clone() for t in live]
        elif live:
            torch._foreach_copy_(self._saved, live)
        layout, values = self._optimizer_tensors()
        if self._same_layout(self._opt_layout, layout):
            if values:
                torch._foreach_copy_(self._opt_saved, values)
        else:
            self._opt_layout = layout
            self._opt_saved = [v.clone() for v in values]
        self._opt_params = {id(p): p for p in self.optimizer.state}
        self._opt_other = {
            id(p): {k: v for k, v in st.items() if not isinstance(v, torch.Tensor)}
            for p, st in self.optimizer.state.items()
        }
        self._group_hyper = [
            {k: v for k, v in g.items() if k != "params"} for g in self.optimizer.param_groups
        ]
        self._scheduler_state = (
            _shallow_state(self.scheduler.state_dict()) if self.scheduler is not None else None
        )
        scaler = self.scaler
        self._scaler_state = (
            dict(scaler.state_dict()) if scaler is not None and scaler.is_enabled() else None
        )
        self._capture_private()
        if self.rng:
            self._cpu_rng = torch.get_rng_state()
            device = live[0].device if live else torch.device("cpu")
            if device.type == "cuda":
                index = device.index if device.index is not None else torch.cuda.current_device()
                self._cuda_rng = (index, torch.cuda.get_rng_state(index))
        self.captured = True

    def _capture_private(self) -> None:
        extra: list[tuple[nn.Module, Any]] = []
        generators: list[tuple[torch.Generator, torch.Tensor]] = []
        seen: set[int] = set()
        for module in self.modules:
            for sub in module.modules():
                if id(sub) in seen:
                    continue
                seen.add(id(sub))
                if _overrides_extra_state(sub):
                    extra.append((sub, sub.get_extra_state()))
                for value in vars(sub).values():
                    if isinstance(value, torch.Generator):
                        generators.append((value, value.get_state()))
        self._extra, self._generators = extra, generators

    # ------------------------------------------------------------------ restore
    @torch.no_grad()
    def restore(self, keep: bool = False) -> None:
        """Put back exactly the captured state (bitwise); with ``keep=True`` the tensors named
        in the constructor's ``keep`` (and their optimizer state) are left as they are."""
        if not self.captured or self._saved is None:
            raise RuntimeError("restore() called before capture()")
        skip = self._keep_ids if keep else set()
        live, saved = self._live, self._saved
        if skip:
            pairs = [(a, b) for a, b in zip(live, saved, strict=True) if id(a) not in skip]
            live, saved = [a for a, _ in pairs], [b for _, b in pairs]
        if live:
            torch._foreach_copy_(live, saved)
        self._restore_optimizer(skip)
        for module, state in self._extra:
            module.set_extra_state(state)
        for generator, state in self._generators:
            generator.set_state(state)
        for group, hyper in zip(self.optimizer.param_groups, self._group_hyper, strict=True):
            group.update(hyper)
        if self.scheduler is not None and self._scheduler_state is not None:
            self.scheduler.load_state_dict(_shallow_state(self._scheduler_state))
        if self.scaler is not None and self._scaler_state is not None:
            self.scaler.load_state_dict(dict(self._scaler_state))
        if self.rng and self._cpu_rng is not None:
            torch.set_rng_state(self._cpu_rng)
            if self._cuda_rng is not None:
                torch.cuda.set_rng_state(self._cuda_rng[1], self._cuda_rng[0])

    def _restore_optimizer(self, skip: set[int]) -> None:
        state = self.optimizer.state
        # drop state created by the update (parameters that had none, keys that did not exist)
        for param in list(state.keys()):
            if id(param) not in self._opt_params and id(param) not in skip:
                del state[param]
        layout = [e for e in self._opt_layout or [] if id(e[0]) not in skip]
        saved_values = [
            v for e, v in zip(self._opt_layout or [], self._opt_saved, strict=True)
            if id(e[0]) not in skip
        ]
        keep: dict[int, set[str]] = {pid: set(other) for pid, other in self._opt_other.items()}
        for param, key, _, _ in layout:
            keep.setdefault(id(param), set()).add(key)
        for pid, param in self._opt_params.items():
            if pid in skip:
                continue
            st = state[param]
            for key in [k for k in st if k not in keep.get(pid, ())]:
                del st[key]
            st.update(self._opt_other.get(pid, {}))
        dst, src = [], []
        for (param, key, shape, dtype), saved in zip(layout, saved_values, strict=True):
            st = state[param]
            current = st.get(key)
            if (
                isinstance(current, torch.Tensor)
                and current.shape == shape
                and current.dtype == dtype
                and current.device == saved.device
            ):
                dst.append(current)
                src.append(saved)
            else:  # replaced or removed by the update: put a fresh copy back
                st[key] = saved.clone()
        if dst:
            torch._foreach_copy_(dst, src)
