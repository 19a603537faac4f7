"""Build of the optional C extension ``gradstep._fused`` (metadata: pyproject.toml).

The compile flags follow the compiler in use: GCC and Clang get ``-O3 -ffp-contract=off
-fno-fast-math -fno-trapping-math -fno-math-errno`` and MSVC ``/O2 /fp:precise``. Both keep
the compiler from fusing multiplies and adds, so that the fused kernels round exactly as the
NumPy ones (bit-identical results). ``-fno-trapping-math`` changes no value (only whether an
operation may raise a floating-point trap, which Python never enables); it lets GCC turn the
kernels' per-element selects (ReLU, its mask, the stable sigmoid) into vector blends.
``-fno-math-errno`` changes no value either (only whether ``sqrt`` of a negative number sets
``errno``, which nothing reads): it lets the Adam update's square roots run as vector
instructions.

When the extension cannot be built (no compiler, missing headers, an unknown compiler that
rejects the flags), the install still succeeds and says once that gradstep uses its NumPy
kernels instead.
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

_FLAGS = {
    "msvc": ["/O2", "/fp:precise"],
    "unix": ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math",
             "-fno-math-errno"],
    "mingw32": ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math",
                "-fno-math-errno"],
    "cygwin": ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math",
               "-fno-math-errno"],
}

_FALLBACK = (
    "gradstep: the optional C extension gradstep._fused was not built ({why}); "
    "gradstep will use its NumPy kernels instead (same results, slower optimizer and "
    "elementwise steps). Install a C compiler and reinstall to get the fused kernels."
)


class BuildFused(build_ext):
    """``build_ext`` choosing flags per compiler and falling back to NumPy on failure."""

    def build_extension(self, ext: Extension) -> None:
        kind = getattr(self.compiler, "compiler_type", "unix")
        ext.extra_compile_args = list(_FLAGS.get(kind, []))
        try:
            super().build_extension(ext)
        except Exception as exc:  # any compiler or linker failure: keep the install going
            why = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            print(_FALLBACK.format(why=why), file=sys.stderr)

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all (raised before any extension is built)
            print(_FALLBACK.format(why=f"{type(exc).__name__}: {exc}"), file=sys.stderr)


setup(
    ext_modules=[Extension("gradstep._fused", ["src/gradstep/_fused.c"], optional=True)],
    cmdclass={"build_ext": BuildFused},
)
