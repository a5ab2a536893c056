# setuptools reads everything else from pyproject.toml; this file exists because
# cffi's build hook (cffi_modules) is a setup() keyword, and to put the built-in
# images' recipes (images/*.sh, outside the package) into wheels as
# pycontainer/images/ (pycontainer.image.builtin looks there when installed).
import glob
import os
import shutil

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
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


class build_ext_with_monitor(build_ext):
    """Also build csrc/monitor.c, the detached container's monitor loop, as the executable
    pycontainer/pycontainer-monitor, beside the extension (detach.py runs it when present;
    without it the Python monitor, pycontainer/monitor.py, does the same job)."""

    def run(self):
        super().run()
        from setuptools._distutils.ccompiler import new_compiler
        from setuptools._distutils.sysconfig import customize_compiler
        cc = new_compiler()
        customize_compiler(cc)
        out = os.path.dirname(self.get_ext_fullpath("pycontainer._native"))
        objs = cc.compile([os.path.join("csrc", "monitor.c"), os.path.join("csrc", "jsonlog.c")],
                          output_dir=self.build_temp, extra_postargs=["-O2", "-Wall"])
        cc.link_executable(objs, "pycontainer-monitor", output_dir=out)


# csrc/nscalls.c: the calls of the runtime's and the init's path without cffi (its header
# says why); it wraps native.c's functions, compiled into it as well.
setup(cffi_modules=["csrc/build_native.py:ffibuilder"],
      ext_modules=[Extension("pycontainer._nscalls", ["csrc/nscalls.c", "csrc/native.c"],
                             include_dirs=["csrc"], extra_compile_args=["-O2", "-Wall"],
                             py_limited_api=True)],
      cmdclass={"build_py": build_py_with_recipes, "build_ext": build_ext_with_monitor})
