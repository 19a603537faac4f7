"""Build of the optional C extension ``gradstep._fused`` (metadata: pyproject.toml).

``optional=True``: without a working C compiler the extension is skipped and gradstep uses
its NumPy kernels. ``-ffp-contract=off`` keeps the compiler from fusing multiplies and adds,
so that the fused kernels round exactly as the NumPy ones (bit-identical results).
"""

import sys

from setuptools import Extension, setup

if sys.platform == "win32":
    args = ["/O2", "/fp:precise"]
else:
    args = ["-O3", "-ffp-contract=off", "-fno-fast-math"]

setup(
    ext_modules=[
        Extension("gradstep._fused", ["src/gradstep/_fused.c"], optional=True,
                  extra_compile_args=args),
    ],
)
