"""``from course_utils.common import make_env``: the folder's names, loaded lazily."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import course_utils.common as common

FOLDER = Path(common.__file__).parent


@pytest.mark.parametrize("name", common.__all__)
def test_every_exported_name_is_the_defining_modules_object(name):
    module = __import__(
        f"course_utils.common.{common._MODULES_OF[name]}", fromlist=[name]
    )
    assert getattr(common, name) is getattr(module, name)


def test_every_public_function_and_class_of_the_listed_modules_is_exported():
    for module in set(common._MODULES_OF.values()):
        tree = ast.parse((FOLDER / f"{module}.py").read_text())
        public = {
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef | ast.ClassDef)
            and not node.name.startswith("_")
        }
        assert public <= set(common.__all__), (module, public - set(common.__all__))


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'make_envs'"):
        common.make_envs  # noqa: B018


def test_importing_one_module_does_not_import_torch():
    code = "import sys, course_utils.common.stats; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
