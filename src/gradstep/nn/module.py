"""Modules: containers of parameters, buffers and sub-modules.

A :class:`Module` discovers its parameters, buffers and children through its
attributes, in the order they were assigned, the way PyTorch does: a module's own
:class:`Parameter` attributes come first, then its children (modules, and lists,
tuples and dicts holding modules or parameters), each recursively. Names use
PyTorch's dotted form (``0.weight``, ``fc1.bias``, ``bn.running_mean``), so a
:meth:`Module.state_dict` can be loaded into the equivalent ``torch.nn`` model and
the other way round.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from gradstep.errors import CheckpointError
from gradstep.tensor import Tensor

__all__ = [
    "Parameter",
    "Module",
    "Sequential",
    "ModuleList",
    "ModuleDict",
    "IncompatibleKeys",
    "register_module_type",
    "module_from_config",
]

_MODULE_TYPES: dict[str, type[Module]] = {}


class Parameter(Tensor):
    """A tensor that a :class:`Module` owns and an optimizer updates.

    ``requires_grad`` is True by default. The data is shared with ``data`` when that
    is already a floating-point ndarray (or a tensor's ndarray); integers are
    converted to float32. Optimizers may rebind ``param._data`` (for instance to a view
    into one flat buffer), so layers read their parameters at forward time.

    Args:
        data: array-like initial value.
        requires_grad: whether gradients are wanted.
        dtype: optional dtype to convert to.
    """

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None) -> None:
        if isinstance(data, Tensor):
            data = data._data
        super().__init__(data, dtype=dtype, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class IncompatibleKeys(NamedTuple):
    """What :meth:`Module.load_state_dict` could not match (non-strict loading)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _is_container(v: Any) -> bool:
    return isinstance(v, (list, tuple, dict))


def _container_items(v: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(v, dict):
        for k, x in v.items():
            yield str(k), x
    else:
        for i, x in enumerate(v):
            yield str(i), x


def _holds_members(v: Any, depth: int = 0) -> bool:
    """Whether a container (recursively) holds a module or a parameter."""
    if depth > 8:
        return False
    for _, x in _container_items(v):
        if isinstance(x, (Module, Parameter)):
            return True
        if _is_container(x) and _holds_members(x, depth + 1):
            return True
    return False


def register_module_type(cls: type[Module]) -> type[Module]:
    """Class decorator: make ``cls`` reconstructible by :func:`module_from_config`."""
    _MODULE_TYPES[cls.__name__] = cls
    return cls


def module_from_config(config: Mapping[str, Any]) -> Module:
    """Rebuild a module from :meth:`Module.to_config` output (weights not included).

    Raises:
        CheckpointError: unknown module type or bad constructor arguments.
    """
    if not isinstance(config, Mapping) or "type" not in config:
        raise CheckpointError(
            f"module_from_config: expected a dict with a 'type' key, got {config!r}"
        )
    name = config["type"]
    cls = _MODULE_TYPES.get(name)
    if cls is None:
        raise CheckpointError(
            f"module_from_config: unknown module type {name!r}; known: {sorted(_MODULE_TYPES)}"
        )
    return cls._from_config(config)


class Module:
    """Base class of every layer and model.

    Subclasses call ``super().__init__()`` first, assign parameters, sub-modules and
    buffers as attributes, and implement :meth:`forward`. Calling the module calls
    ``forward``.

    Attributes:
        training: True in training mode (dropout active, batch norm uses batch statistics).
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_buffer_names", [])
        object.__setattr__(self, "_non_persistent", set())

    def __getattr__(self, name: str) -> Any:
        # only reached when normal lookup fails; typed Any so dynamic members type-check
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ---------------------------------------------------------------- calling
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---------------------------------------------------------------- buffers
    def register_buffer(self, name: str, value: Any, persistent: bool = True) -> None:
        """Register a non-trainable array (e.g. running statistics) saved in the state dict.

        Args:
            name: attribute name.
            value: an ndarray (kept as is), array-like, or None.
            persistent: whether it appears in :meth:`state_dict`.
        """
        if "_buffer_names" not in self.__dict__:
            raise AttributeError(
                "register_buffer: call Module.__init__() before registering buffers"
            )
        if not isinstance(name, str) or not name or "." in name:
            raise KeyError(f"register_buffer: invalid buffer name {name!r}")
        if value is not None and not isinstance(value, np.ndarray):
            value = np.asarray(value._data if isinstance(value, Tensor) else value)
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)
        object.__setattr__(self, name, value)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Set ``param`` as attribute ``name`` (PyTorch's spelling of ``self.name = param``)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(
                f"register_parameter: expected a Parameter or None, got {type(param).__name__}"
            )
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        """Set ``module`` as attribute ``name`` (PyTorch's spelling of ``self.name = module``)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module: expected a Module or None, got {type(module).__name__}")
        object.__setattr__(self, name, module)

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(dtype)``, ``to(device)`` or ``to(device, dtype)``, as PyTorch's ``Module.to``.

        Converts every parameter and floating-point buffer to the dtype (float32 or float64).
        Parameters are rebound to new arrays (gradients are dropped), so build optimizers after
        converting. The only device is ``"cpu"``; any other raises
        :class:`~gradstep.errors.DeviceError`. Returns self.
        """
        from gradstep._device import check_device, device

        dtype = kwargs.pop("dtype", None)
        dev = kwargs.pop("device", None)
        kwargs.pop("non_blocking", None)
        if kwargs:
            raise TypeError(f"Module.to: unexpected keyword argument(s) {sorted(kwargs)}")
        for a in args:
            if isinstance(a, (str, device)):
                dev = a
            else:
                dtype = a
        check_device(dev, "Module.to")
        if dtype is None:
            return self
        dt = np.dtype(dtype)
        if dt not in (np.float32, np.float64):
            raise ValueError(f"Module.to: dtype must be float32 or float64, got {dt}")
        for p in self.parameters():
            if p._data.dtype != dt:
                p._data = p._data.astype(dt)
                p._grad = None
        for m in self.modules():
            for b in m.__dict__.get("_buffer_names", ()):
                v = m.__dict__.get(b)
                if isinstance(v, np.ndarray) and v.dtype.kind == "f" and v.dtype != dt:
                    object.__setattr__(m, b, v.astype(dt))
        return self

    def cpu(self) -> Module:
        """Returns self: parameters always live on the CPU."""
        return self

    def cuda(self, device: Any = None) -> Module:
        """Raises :class:`~gradstep.errors.DeviceError`: gradstep computes on the CPU only."""
        from gradstep._device import check_device

        check_device("cuda", "Module.cuda")
        return self  # pragma: no cover - check_device raises

    def float(self) -> Module:
        """``to(float32)``."""
        return self.to(np.float32)

    def double(self) -> Module:
        """``to(float64)``."""
        return self.to(np.float64)

    # ------------------------------------------------------------- discovery
    def _own(self) -> Iterator[tuple[str, str, Any]]:
        """(kind, name, value) for this module's own members: kind 'param' or 'child'.

        Own parameters come first (attribute order), then children: modules and
        containers that hold modules or parameters (treated like PyTorch's ModuleList,
        ParameterList, ModuleDict).
        """
        children = []
        buffers = set(self.__dict__.get("_buffer_names", ()))
        for name, v in self.__dict__.items():
            if name in buffers:
                continue
            if isinstance(v, Parameter):
                yield "param", name, v
            elif isinstance(v, Module) or (_is_container(v) and _holds_members(v)):
                children.append((name, v))
        for name, v in children:
            yield "child", name, v

    @staticmethod
    def _walk_params(
        obj: Any, prefix: str, seen_mod: set[int], out: list[tuple[str, Parameter]]
    ) -> None:
        if isinstance(obj, Module):
            if id(obj) in seen_mod:
                return
            seen_mod.add(id(obj))
            for kind, name, v in obj._own():
                if kind == "param":
                    out.append((prefix + name, v))
                else:
                    Module._walk_params(v, prefix + name + ".", seen_mod, out)
        elif _is_container(obj):
            params = []
            subs = []
            for k, x in _container_items(obj):
                if isinstance(x, Parameter):
                    params.append((prefix + k, x))
                elif isinstance(x, Module) or _is_container(x):
                    subs.append((k, x))
            out.extend(params)
            for k, x in subs:
                Module._walk_params(x, prefix + k + ".", seen_mod, out)

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Parameter]]:
        """(name, parameter) pairs in PyTorch order; shared parameters appear once."""
        out: list[tuple[str, Parameter]] = []
        if recurse:
            self._walk_params(self, prefix + "." if prefix else "", set(), out)
        else:
            out = [
                (prefix + ("." if prefix else "") + n, v) for k, n, v in self._own() if k == "param"
            ]
        seen: set[int] = set()
        for name, p in out:
            if remove_duplicate:
                if id(p) in seen:
                    continue
                seen.add(id(p))
            yield name, p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (each once), in PyTorch order."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_modules(
        self, prefix: str = "", memo: set[int] | None = None
    ) -> Iterator[tuple[str, Module]]:
        """(name, module) for this module and all descendants, each once; self has name ''."""
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self.named_children():
            yield from child.named_modules(prefix + ("." if prefix else "") + name, memo)

    def modules(self) -> Iterator[Module]:
        """This module and every descendant, each once."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct sub-modules (modules inside containers are named ``list.0``)."""
        seen: set[int] = set()

        def visit(obj: Any, name: str) -> Iterator[tuple[str, Module]]:
            if isinstance(obj, Module):
                if id(obj) not in seen:
                    seen.add(id(obj))
                    yield name, obj
            elif _is_container(obj):
                for k, x in _container_items(obj):
                    yield from visit(x, name + "." + k)

        for kind, name, v in self._own():
            if kind == "child":
                yield from visit(v, name)

    def children(self) -> Iterator[Module]:
        """Direct sub-modules."""
        for _, m in self.named_children():
            yield m

    def named_buffers(
        self, prefix: str = "", recurse: bool = True
    ) -> Iterator[tuple[str, np.ndarray]]:
        """(name, array) of registered buffers that are not None."""
        mods = self.named_modules(prefix) if recurse else iter([(prefix, self)])
        for mname, m in mods:
            for b in m.__dict__.get("_buffer_names", ()):
                v = m.__dict__.get(b)
                if v is not None:
                    yield (mname + "." if mname else "") + b, v

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every descendant; returns self."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Set evaluation mode (``train(False)``); returns self."""
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop gradients (``set_to_none``) or zero them in place (keeps flat-buffer views)."""
        for p in self.parameters():
            if set_to_none:
                p._grad = None
            elif p._grad is not None:
                p._grad[...] = 0

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every descendant (children first) and then on self; returns self."""
        for c in self.children():
            c.apply(fn)
        fn(self)
        return self

    def num_parameters(self, trainable_only: bool = False) -> int:
        """Number of scalar parameters (each shared parameter counted once)."""
        return int(
            sum(p._data.size for p in self.parameters() if p.requires_grad or not trainable_only)
        )

    # ------------------------------------------------------------ state dict
    def _state_entries(self) -> list[tuple[str, Any, str]]:
        """(key, owner, kind) for every state entry: parameters then buffers, per module.

        Shared parameters appear under every name, as in PyTorch.
        """
        out: list[tuple[str, Any, str]] = []
        seen: set[int] = set()

        def visit_module(m: Module, prefix: str) -> None:
            if id(m) in seen:  # a cycle (a module reachable from itself); shared modules repeat
                return
            seen.add(id(m))
            own = list(m._own())
            for kind, name, v in own:
                if kind == "param":
                    out.append((prefix + name, v, "param"))
            for b in m.__dict__.get("_buffer_names", ()):
                if b in m._non_persistent or m.__dict__.get(b) is None:
                    continue
                out.append((prefix + b, (m, b), "buffer"))
            for kind, name, v in own:
                if kind == "child":
                    visit(v, prefix + name + ".")
            seen.discard(id(m))

        def visit(obj: Any, prefix: str) -> None:
            if isinstance(obj, Module):
                visit_module(obj, prefix)
            elif _is_container(obj):
                subs = []
                for k, x in _container_items(obj):
                    if isinstance(x, Parameter):
                        out.append((prefix + k, x, "param"))
                    elif isinstance(x, Module) or _is_container(x):
                        subs.append((k, x))
                for k, x in subs:
                    visit(x, prefix + k + ".")

        visit_module(self, "")
        return out

    @staticmethod
    def _entry_array(owner: Any, kind: str) -> np.ndarray:
        if kind == "param":
            return owner._data  # type: ignore[no-any-return]
        m, b = owner
        return m.__dict__[b]  # type: ignore[no-any-return]

    def state_dict(self) -> dict[str, Tensor]:
        """Parameters and persistent buffers as ``{name: tensor}`` with PyTorch key names.

        The tensors are detached *copies* taken now (PyTorch's share memory with the
        module): keeping one and training on restores the old values on ``load_state_dict``.
        """
        out: dict[str, Tensor] = {}
        for k, o, kind in self._state_entries():
            arr = np.array(self._entry_array(o, kind), copy=True)
            out[k] = Tensor(arr, dtype=arr.dtype)
        return out

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True
    ) -> IncompatibleKeys:
        """Copy values into the existing parameter and buffer arrays, in place.

        Values may be ndarrays, gradstep tensors or anything ``numpy.asarray`` accepts
        (e.g. CPU ``torch`` tensors). Arrays are written in place (``param._data[...] = v``)
        so views held by an optimizer stay valid; nothing is written unless every key fits.

        Args:
            state_dict: name -> value.
            strict: require exactly the model's keys.

        Returns:
            The missing and unexpected keys (both empty when ``strict``).

        Raises:
            CheckpointError: listing missing keys, unexpected keys (when ``strict``) and keys
                whose shapes differ (always).
        """
        if not isinstance(state_dict, Mapping):
            raise CheckpointError(
                f"load_state_dict: expected a mapping of names to arrays, "
                f"got {type(state_dict).__name__}"
            )
        entries = self._state_entries()
        expected = {k: (o, kind) for k, o, kind in entries}
        missing = [k for k in expected if k not in state_dict]
        unexpected = [k for k in state_dict if k not in expected]
        mismatched: list[str] = []
        values: list[tuple[np.ndarray, np.ndarray, str]] = []
        for k, (o, kind) in expected.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            if isinstance(v, Tensor):
                v = v._data
            elif hasattr(v, "detach") and hasattr(v, "cpu"):  # a torch tensor
                v = v.detach().cpu().numpy()
            try:
                arr = np.asarray(v)
            except (TypeError, ValueError) as exc:
                mismatched.append(f"{k}: cannot convert {type(v).__name__} to an array ({exc})")
                continue
            target = self._entry_array(o, kind)
            if arr.shape != target.shape:
                mismatched.append(f"{k}: checkpoint shape {arr.shape}, model shape {target.shape}")
                continue
            if arr.dtype.kind not in "biuf":
                mismatched.append(f"{k}: non-numeric dtype {arr.dtype}")
                continue
            values.append((target, arr, k))
        problems = []
        if strict and missing:
            problems.append(f"missing keys {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys {unexpected}")
        if mismatched:
            problems.append("mis-shaped keys [" + "; ".join(mismatched) + "]")
        if problems:
            raise CheckpointError(
                f"load_state_dict: state does not fit {type(self).__name__}: " + ", ".join(problems)
            )
        for target, arr, k in values:
            if not target.flags.writeable:
                raise CheckpointError(f"load_state_dict: the array for {k!r} is read-only")
            target[...] = arr
        return IncompatibleKeys(missing if not strict else [], unexpected if not strict else [])

    # ---------------------------------------------------------------- config
    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-able) that rebuild this layer without weights."""
        raise NotImplementedError(f"{type(self).__name__} does not provide config()")

    def to_config(self) -> dict[str, Any]:
        """``{"type": class name, "config": config()}`` (containers nest their children)."""
        return {"type": type(self).__name__, "config": self.config()}

    @classmethod
    def _from_config(cls, config: Mapping[str, Any]) -> Module:
        kwargs = dict(config.get("config", {}))
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise CheckpointError(
                f"module_from_config: cannot build {cls.__name__}: {exc}"
            ) from None

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """One-line description of this module's settings (shown inside the parentheses)."""
        return ""

    def __repr__(self) -> str:
        return self._repr(top=True)

    def _repr(self, top: bool = False) -> str:
        kids = list(self.named_children())
        n = self.num_parameters()
        count = f"  # {n:,} parameters" if n else ""
        if not kids:
            body = f"{type(self).__name__}({self.extra_repr()})"
            return body + (count if n else "")
        lines = [f"{type(self).__name__}({self.extra_repr()}{count}"]
        for name, c in kids:
            sub = c._repr().replace("\n", "\n  ")
            lines.append(f"  ({name}): {sub}")
        lines.append(")")
        return "\n".join(lines)


class Sequential(Module):
    """Chain of modules applied in order; children are named ``0``, ``1``, ...

    ``Sequential(OrderedDict(name=module, ...))``-style construction is accepted as a dict.

    Shape: input of the first module -> output of the last.
    """

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        object.__setattr__(self, "_keys", [])
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            for k, m in modules[0].items():
                self._add(str(k), m)
        else:
            for i, m in enumerate(modules):
                self._add(str(i), m)

    def _add(self, key: str, m: Any) -> None:
        if not isinstance(m, Module):
            raise TypeError(
                f"{type(self).__name__}: item {key!r} must be a Module, got {type(m).__name__}"
            )
        if key not in self._keys:
            self._keys.append(key)
        object.__setattr__(self, key, m)

    def append(self, m: Module) -> Sequential:
        self._add(str(len(self._keys)), m)
        return self

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Module]:
        return (self.__dict__[k] for k in self._keys)

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return type(self)(*[self.__dict__[k] for k in self._keys[idx]])
        try:
            return self.__dict__[self._keys[idx]]
        except IndexError:
            raise IndexError(
                f"{type(self).__name__}: index {idx} out of range for {len(self)} modules"
            ) from None

    def forward(self, x: Any) -> Any:
        for k in self._keys:
            x = self.__dict__[k](x)
        return x

    def to_config(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "layers": [self.__dict__[k].to_config() for k in self._keys],
        }

    @classmethod
    def _from_config(cls, config: Mapping[str, Any]) -> Module:
        return cls(*[module_from_config(c) for c in config.get("layers", [])])


class ModuleList(Module):
    """A list of modules whose parameters are discovered (names ``0.weight``, ...)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "_keys", [])
        for m in modules or ():
            self.append(m)

    def append(self, m: Module) -> ModuleList:
        if not isinstance(m, Module):
            raise TypeError(f"ModuleList: items must be Modules, got {type(m).__name__}")
        key = str(len(self._keys))
        self._keys.append(key)
        object.__setattr__(self, key, m)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[Module]:
        return (self.__dict__[k] for k in self._keys)

    def __getitem__(self, idx: int) -> Module:
        try:
            return self.__dict__[self._keys[idx]]  # type: ignore[no-any-return]
        except IndexError:
            raise IndexError(
                f"ModuleList: index {idx} out of range for {len(self)} modules"
            ) from None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleList has no forward(); iterate over it")

    def to_config(self) -> dict[str, Any]:
        return {"type": "ModuleList", "layers": [m.to_config() for m in self]}

    @classmethod
    def _from_config(cls, config: Mapping[str, Any]) -> Module:
        return cls([module_from_config(c) for c in config.get("layers", [])])


class ModuleDict(Module):
    """A dict of modules (string keys, insertion order) whose parameters are discovered."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        object.__setattr__(self, "_keys", [])
        for k, m in (modules or {}).items():
            self[k] = m

    def __setitem__(self, key: str, m: Module) -> None:
        if not isinstance(m, Module):
            raise TypeError(f"ModuleDict: values must be Modules, got {type(m).__name__}")
        key = str(key)
        if key not in self._keys:
            self._keys.append(key)
        object.__setattr__(self, key, m)

    def __getitem__(self, key: str) -> Module:
        if key not in self._keys:
            raise KeyError(f"ModuleDict: no module named {key!r}; keys: {self._keys}")
        return self.__dict__[key]  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._keys))

    def keys(self) -> list[str]:
        return list(self._keys)

    def values(self) -> list[Module]:
        return [self.__dict__[k] for k in self._keys]

    def items(self) -> list[tuple[str, Module]]:
        return [(k, self.__dict__[k]) for k in self._keys]

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("ModuleDict has no forward(); index it")

    def to_config(self) -> dict[str, Any]:
        return {"type": "ModuleDict", "layers": {k: m.to_config() for k, m in self.items()}}

    @classmethod
    def _from_config(cls, config: Mapping[str, Any]) -> Module:
        return cls({k: module_from_config(c) for k, c in config.get("layers", {}).items()})


for _cls in (Sequential, ModuleList, ModuleDict):
    register_module_type(_cls)
