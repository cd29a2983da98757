"""Stage 1, parse: spec file -> validated, normalised `Spec`."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from vllm_compile.diagnostics import CompileError, Diagnostic, SourceMap

if TYPE_CHECKING:  # imported lazily at run time: pydantic models are slow to build
    from vllm_compile.ir.spec import Spec


def parse_spec(path: str, data: bytes | None = None) -> Spec:
    from vllm_compile.ir.spec import Deployment, OutputSpec, Spec
    from vllm_compile.parse.validate import validate_document
    from vllm_compile.parse.yaml_source import load_yaml

    display = Path(path).as_posix()
    _check_file_name(display)
    if data is None:
        from vllm_compile.inputs import InputError, read_bytes
        from vllm_compile.parse.yaml_source import MAX_BYTES

        try:
            data = read_bytes(path, MAX_BYTES)
        except InputError as exc:
            raise CompileError([Diagnostic(
                f"spec file {exc.reason}", file=display, line=None if exc.missing else 1,
                column=None if exc.missing else 1,
                fix="check the path; specs usually live under specs/" if exc.missing else
                    "name a YAML spec file (a regular file of at most 1 MiB)")]) from None
    document, positions = load_yaml(data, display)
    source = SourceMap(display, positions)
    spec_file = validate_document(document, source)
    if spec_file.deployments is not None:
        deployments = tuple(Deployment(f"deployments[{i}].", _kubernetes_defaults(d, spec_file.kubernetes))
                            for i, d in enumerate(spec_file.deployments))
        output = spec_file.output or OutputSpec(dir="deploy")
        multi = True
    else:
        from vllm_compile.ir.spec import DeploymentSpec, ServerSpec, WorkloadSpec

        single = DeploymentSpec(
            name=spec_file.name, model=spec_file.model, engine=spec_file.engine,
            workload=spec_file.workload or WorkloadSpec(), server=spec_file.server or ServerSpec(),
            output=spec_file.output or OutputSpec(), kubernetes=spec_file.kubernetes)
        deployments = (Deployment("", single),)
        output = single.output
        multi = False
    return Spec(path=display, directory=os.path.abspath(os.path.dirname(path) or "."), source=source,
                hardware=spec_file.hardware, deployments=deployments, output=output,
                digest=hashlib.sha256(data).hexdigest(), multi=multi)


def _check_file_name(display: str) -> None:
    """The spec's name goes into every artifact's header: it must be UTF-8 without control characters."""
    from vllm_compile.parse.yaml_source import CONTROL

    try:
        display.encode("utf-8")
    except UnicodeEncodeError:
        shown = display.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
        raise CompileError([Diagnostic("the spec file's name is not UTF-8", file=shown, line=1, column=1,
                                       fix="rename the file with UTF-8 characters only")]) from None
    if CONTROL.search(display):
        shown = display.encode("unicode_escape").decode("ascii")
        raise CompileError([Diagnostic("the spec file's name holds a control character", file=shown, line=1,
                                       column=1, fix="rename the file without control characters")])


def _kubernetes_defaults(dep, shared):
    """A `kubernetes:` block beside `deployments:` holds the defaults of every deployment's own
    block: the keys a deployment sets win, one by one."""
    if shared is None:
        return dep
    from vllm_compile.ir.spec import KubernetesSpec

    own = dep.kubernetes.model_dump(exclude_unset=True) if dep.kubernetes else {}
    merged = KubernetesSpec.model_validate({**shared.model_dump(exclude_unset=True), **own})
    return dep.model_copy(update={"kubernetes": merged})
