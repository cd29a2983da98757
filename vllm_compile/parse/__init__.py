"""Stage 1, parse: spec file -> validated, normalised `Spec`."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from vllm_compile.diagnostics import CompileError, Diagnostic, SourceMap
from vllm_compile.ir.records import Record, build

if TYPE_CHECKING:  # imported lazily at run time: pydantic models are slow to build
    from vllm_compile.ir.spec import Spec


def parse_spec(path: str, data: bytes | None = None) -> Spec:
    from vllm_compile.ir.document import Deployment, Spec
    from vllm_compile.parse.validate import validate_document
    from vllm_compile.parse.yaml_source import load_yaml

    display = Path(path).as_posix()
    if data is None:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise CompileError([Diagnostic("spec file not found", file=display,
                                           fix="check the path; specs usually live under specs/")]) from None
        except IsADirectoryError:
            raise CompileError([Diagnostic("expected a spec file, found a folder", file=display,
                                           fix="name the .yaml file itself")]) from None
        except OSError as exc:
            raise CompileError([Diagnostic(f"cannot read spec file: {exc.strerror}", file=display,
                                           fix="check the file's permissions")]) from None
    document, positions = load_yaml(data, display)
    source = SourceMap(display, positions)
    spec_file = validate_document(document, source)
    # A record (validated without pydantic) is built into records; a pydantic model into models.
    model = _records if isinstance(spec_file, Record) else _models
    if spec_file.deployments is not None:
        if spec_file.kubernetes is not None and isinstance(spec_file, Record):
            spec_file = spec_file.as_pydantic()  # defaults merged key by key: pydantic's exclude_unset
            model = _models
        deployments = tuple(Deployment(f"deployments[{i}].", _kubernetes_defaults(d, spec_file.kubernetes))
                            for i, d in enumerate(spec_file.deployments))
        output = spec_file.output or model("OutputSpec", dir="deploy")
        multi = True
    else:
        single = model(
            "DeploymentSpec", name=spec_file.name, model=spec_file.model, engine=spec_file.engine,
            workload=spec_file.workload or model("WorkloadSpec"), server=spec_file.server or model("ServerSpec"),
            output=spec_file.output or model("OutputSpec"), kubernetes=spec_file.kubernetes)
        deployments = (Deployment("", single),)
        output = single.output
        multi = False
    return Spec(path=display, directory=os.path.abspath(os.path.dirname(path) or "."), source=source,
                hardware=spec_file.hardware, deployments=deployments, output=output,
                digest=hashlib.sha256(data).hexdigest(), multi=multi)


def _records(model_name: str, /, **values):
    return build(model_name, values)


def _models(model_name: str, /, **values):
    from vllm_compile.ir import spec as models

    return getattr(models, model_name)(**values)


def _kubernetes_defaults(dep, shared):
    """A `kubernetes:` block beside `deployments:` holds the defaults of every deployment's own
    block: the keys a deployment sets win, one by one."""
    if shared is None:
        return dep
    from vllm_compile.ir.spec import KubernetesSpec

    own = dep.kubernetes.model_dump(exclude_unset=True) if dep.kubernetes else {}
    merged = KubernetesSpec.model_validate({**shared.model_dump(exclude_unset=True), **own})
    return dep.model_copy(update={"kubernetes": merged})
