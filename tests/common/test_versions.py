"""check_versions: the summary line and the errors a student can act on."""

import platform
from importlib import metadata

import pytest

from course_utils.common.versions import MINIMUM, check_versions


def test_summary_names_python_and_every_checked_package():
    summary = check_versions()
    parts = summary.split(" | ")
    assert parts[0] == f"Python {platform.python_version()}"
    assert parts[1:] == [f"{name} {metadata.version(name)}" for name in MINIMUM]


def test_custom_minimum():
    summary = check_versions({"numpy": "1.0"})
    assert (
        summary
        == f"Python {platform.python_version()} | numpy {metadata.version('numpy')}"
    )


def test_too_old_package_is_an_import_error():
    have = metadata.version("numpy")
    with pytest.raises(ImportError) as info:
        check_versions({"torch": "1.0", "numpy": "999.0"})
    message = str(info.value)
    assert f"numpy {have} is too old: the course needs numpy >= 999.0" in message
    assert "make install" in message


def test_missing_package_is_an_import_error():
    with pytest.raises(
        ImportError, match="no-such-course-package is not installed"
    ) as info:
        check_versions({"no-such-course-package": "1.0"})
    assert "make lab" in str(info.value)
