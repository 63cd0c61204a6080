"""The bundled scenarios, installed with the package as ``kamsim.scenarios``.

This folder is their one home: the build maps it into the package (see ``pyproject.toml``),
so ``kamsim.load_scenario("baseline")`` finds them from any working directory.
"""
