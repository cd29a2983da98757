"""The emit targets: one module each under `emit/`, all of the same shape.

A target module defines NAME (the output format, as `output.formats` and `--emit` spell it),
FILENAME, KIND ("yaml" | "shell"), SCOPE ("host": one file for every deployment of a spec;
"deployment": one per deployment), RUNTIME (what runs the artifact: "docker", "host" or
"kubernetes"; `doctor` checks for it), DESCRIPTION (one line for the schema and the CLI help)
and `render(deployments, header) -> bytes`. Adding a target is writing its module and listing
it in MODULES (format name -> module name); the spec schema, the CLI and `doctor` read their
lists from here.
"""
from __future__ import annotations

import importlib
from types import ModuleType

# Output format -> its module under emit/, by name order. A target is imported when a compile
# emits it (or something reads its attributes), not when the registry is: a compose-only compile
# does not load the Kubernetes, LWS, ray and serve emitters.
MODULES = {
    "compose": "compose",
    "docker-run": "docker_run",
    "kubernetes": "kubernetes",
    "lws": "lws",
    "ray": "ray",
    "serve": "serve",
}


class Target:
    """One emit target: its module's attributes, the module imported on first use."""

    __slots__ = ("name", "path", "_module")
    _module: ModuleType | None

    def __init__(self, name: str, path: str) -> None:
        self.name, self.path, self._module = name, path, None

    def module(self) -> ModuleType:
        if self._module is None:
            self._module = importlib.import_module(self.path)
        return self._module

    def __getattr__(self, attribute: str):
        return getattr(self.module(), attribute)

    def __repr__(self) -> str:
        return f"<emit target {self.name!r} ({self.path})>"


TARGETS = {name: Target(name, f"vllm_compile.emit.{module}") for name, module in sorted(MODULES.items())}
FORMATS = tuple(TARGETS)


def describe_formats() -> str:
    return ", ".join(f"{name} ({target.DESCRIPTION})" for name, target in TARGETS.items())


def runtime_formats(runtime: str) -> frozenset[str]:
    """The formats whose artifacts `runtime` runs."""
    return frozenset(name for name, target in TARGETS.items() if target.RUNTIME == runtime)
