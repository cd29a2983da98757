"""The emit targets: one module each under `emit/`, all of the same shape.

A target module defines NAME (the output format, as `output.formats` and `--emit` spell it),
FILENAME, KIND ("yaml" | "shell"), SCOPE ("host": one file for every deployment of a spec;
"deployment": one per deployment), RUNTIME (what runs the artifact: "docker", "host" or
"kubernetes"; `doctor` checks for it), DESCRIPTION (one line for the schema and the CLI help)
and `render(deployments, header) -> bytes`. Adding a target is writing its module and listing
it in MODULES; the spec schema, the CLI and `doctor` read their lists from here.
"""
from __future__ import annotations

from vllm_compile.emit import compose, docker_run, kubernetes, lws, ray, serve

MODULES = (compose, docker_run, kubernetes, lws, ray, serve)
TARGETS = {module.NAME: module for module in sorted(MODULES, key=lambda m: m.NAME)}
FORMATS = tuple(TARGETS)


def describe_formats() -> str:
    return ", ".join(f"{name} ({target.DESCRIPTION})" for name, target in TARGETS.items())


def runtime_formats(runtime: str) -> frozenset[str]:
    """The formats whose artifacts `runtime` runs."""
    return frozenset(name for name, target in TARGETS.items() if target.RUNTIME == runtime)
