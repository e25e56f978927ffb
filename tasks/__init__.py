"""The benchmark task folders (``<benchmark>/*.yaml`` + ``utils.py`` + README + bundled sample data).

In the repository they live at ``tasks/``; an installed wheel ships them as this package, ``mg_tasks``
(``pyproject.toml``: ``[tool.setuptools.package-dir]``). ``mg_eval.tasks.registry.TASKS_ROOT`` is this
package's folder, so a source checkout, an editable install and a wheel all find the same tasks. Nothing
here is imported by the task code: ``utils.py`` files are loaded by path (``mg_eval.tasks.config``).
"""

from pathlib import Path

#: the folder holding the task YAMLs
ROOT = Path(__file__).resolve().parent
