# setuptools reads everything else from pyproject.toml; this file exists because
# cffi's build hook (cffi_modules) is a setup() keyword, and to put the built-in
# images' recipes (images/*.sh, outside the package) into wheels as
# pycontainer/images/ (pycontainer.image.builtin looks there when installed).
import glob
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class build_py_with_recipes(build_py):
    def run(self):
        super().run()
        if self.editable_mode:           # an editable install reads images/ of the checkout
            return
        out = os.path.join(self.build_lib, "pycontainer", "images")
        os.makedirs(out, exist_ok=True)
        for f in glob.glob(os.path.join(HERE, "images", "*.sh")) + [os.path.join(HERE, "images", "README.md")]:
            shutil.copy2(f, out)


setup(cffi_modules=["csrc/build_native.py:ffibuilder"], cmdclass={"build_py": build_py_with_recipes})
