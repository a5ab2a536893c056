# setuptools reads everything from pyproject.toml; this file exists only
# because cffi's build hook (cffi_modules) is a setup() keyword.
from setuptools import setup

setup(cffi_modules=["csrc/build_native.py:ffibuilder"])
