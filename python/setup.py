"""Builds the extension module moec._moec with the project's CMake.

pip install --no-build-isolation ./python        (from the checkout, offline)

The module is the CMake target moec_python: with MOEC_BUILD_DIR set to a
configured build folder (`make` makes build/), that folder builds it, for
the interpreter it was configured with (MOEC_PYTHON, /usr/bin/python3 by
default: pip must run under one of the same version, which is checked);
otherwise a runtime-only build (no LLVM/MLIR needed) goes into
python/build/cmake, for the interpreter that runs pip.
"""

import os
import subprocess
import sys
import sysconfig

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class CMakeExtension(Extension):
    def __init__(self, name):
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = os.environ.get("MOEC_BUILD_DIR")
        if build:
            build = os.path.abspath(build)
        else:
            build = os.path.join(HERE, "build", "cmake")
            if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
                subprocess.check_call([
                    "cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                    "-DMOEC_ENABLE_COMPILER=OFF", "-DMOEC_ENABLE_CUDA=OFF",
                    "-DMOERT_BUILD_TESTS=OFF", "-DMOEC_ENABLE_PYTHON=ON",
                    "-DMOEC_PYTHON=" + sys.executable])
        subprocess.check_call(["cmake", "--build", build, "--target", "moec_python",
                               "-j", os.environ.get("MOEC_JOBS", "2")])
        out_dir = os.path.join(build, "python", "moec")
        built = [f for f in os.listdir(out_dir) if f.startswith("_moec.") and f.endswith(".so")]
        suffix = sysconfig.get_config_var("EXT_SUFFIX")
        if built and built != ["_moec" + suffix]:
            raise RuntimeError("%s holds %s, built for another Python than this one (%s): "
                               "configure it with -DMOEC_PYTHON=%s" % (
                                   out_dir, ", ".join(built), suffix, sys.executable))
        if len(built) != 1:
            raise RuntimeError("expected one _moec*.so in %s, found %r" % (out_dir, built))
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        self.copy_file(os.path.join(out_dir, built[0]), target)


setup(ext_modules=[CMakeExtension("moec._moec")], cmdclass={"build_ext": CMakeBuild})
