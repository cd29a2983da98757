"""Stage 1, parse: spec file -> validated, normalised `Spec`."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

from vllm_compile.diagnostics import CompileError, Diagnostic, SourceMap
from vllm_compile.ir.records import Record, build
from vllm_compile.sha import hexdigest

if TYPE_CHECKING:  # imported lazily at run time: pydantic models are slow to build
    from vllm_compile.codes import Code
    from vllm_compile.ir.spec import Spec


def parse_spec(path: str, data: bytes | None = None) -> Spec:
    from vllm_compile.ir.document import Deployment, Spec
    from vllm_compile.parse.validate import validate_document
    from vllm_compile.parse.yaml_source import load_yaml

    display = display_path(path)
    _check_file_name(display)
    if data is None:
        from vllm_compile.inputs import InputError, read_bytes
        from vllm_compile.parse.yaml_source import MAX_BYTES

        try:
            data = read_bytes(path, MAX_BYTES)
        except InputError as exc:
            fix = {"missing": "check the path; specs usually live under specs/",
                   "folder": "name the .yaml file itself"}.get(exc.kind, "name a YAML spec file (a regular file of "
                                                                         "at most 1 MiB)")
            codes: dict[str, Code] = {"missing": "VC101", "folder": "VC102", "too-large": "VC104"}
            code = codes.get(exc.kind, "VC103")
            raise CompileError([Diagnostic(
                f"spec file {exc.reason}", file=display, line=None if exc.missing else 1,
                column=None if exc.missing else 1, fix=fix, code=code)]) from None
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
                            for i, d in enumerate(_free_ports(spec_file.deployments, model)))
        output = spec_file.output or model("OutputSpec", dir="deploy")
        multi = True
    else:
        single = model(
            "DeploymentSpec", name=spec_file.name, model=spec_file.model, engine=spec_file.engine or model("EngineSpec"),
            workload=spec_file.workload or model("WorkloadSpec"), server=spec_file.server or model("ServerSpec"),
            output=spec_file.output or model("OutputSpec"), kubernetes=spec_file.kubernetes)
        deployments = (Deployment("", single),)
        output = single.output
        multi = False
    deployments = _engine_args(deployments, source)
    return Spec(path=display, directory=os.path.abspath(os.path.dirname(path) or "."), source=source,
                hardware=spec_file.hardware, deployments=deployments, output=output,
                digest=hexdigest(data), multi=multi)


def display_path(path: str) -> str:
    """`pathlib.Path(path).as_posix()`, the spec's name in diagnostics and headers, without
    importing pathlib on POSIX: repeated and trailing slashes and `.` parts dropped, `..` kept,
    a leading `//` kept as POSIX allows."""
    if os.sep != "/":
        from pathlib import Path

        return Path(path).as_posix()
    stripped = path.lstrip("/")
    root = "//" if len(path) - len(stripped) == 2 else "/" if stripped != path else ""
    return root + "/".join(part for part in stripped.split("/") if part and part != ".") or "."


def _records(model_name: str, /, **values):
    return build(model_name, values)


def _models(model_name: str, /, **values):
    from vllm_compile.ir import spec as models

    return getattr(models, model_name)(**values)


def _check_file_name(display: str) -> None:
    """The spec's name goes into every artifact's header: it must be UTF-8 without control characters."""
    from vllm_compile.parse.yaml_source import CONTROL

    try:
        display.encode("utf-8")
    except UnicodeEncodeError:
        shown = display.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
        raise CompileError([Diagnostic("the spec file's name is not UTF-8", file=shown, line=1, column=1,
                                       fix="rename the file with UTF-8 characters only", code="VC116")]) from None
    if CONTROL.search(display):
        shown = display.encode("unicode_escape").decode("ascii")
        raise CompileError([Diagnostic("the spec file's name holds a control character", file=shown, line=1,
                                       column=1, fix="rename the file without control characters", code="VC116")])


FIRST_PORT = 8000


def _free_ports(deployments, model=_models):
    """A deployment without server.port gets the next port from 8000 that no deployment holds, in
    listing order; explicit ports never move (a clash between them is refused in validation)."""
    taken = {d.server.port for d in deployments if "port" in d.server.model_fields_set}
    out, port = [], FIRST_PORT
    for dep in deployments:
        if "port" not in dep.server.model_fields_set:
            while port in taken:
                port += 1
            taken.add(port)
            if isinstance(dep, Record):
                dep = dep.replaced(server=dep.server.replaced(port=port))
            else:
                from vllm_compile.ir.spec import ServerSpec

                server = ServerSpec.model_validate({**dep.server.model_dump(exclude_unset=True), "port": port})
                dep = dep.model_copy(update={"server": server})
        out.append(dep)
    return out


def _kubernetes_defaults(dep, shared):
    """A `kubernetes:` block beside `deployments:` holds the defaults of every deployment's own
    block: the keys a deployment sets win, one by one."""
    if shared is None:
        return dep
    from vllm_compile.ir.spec import KubernetesSpec

    own = dep.kubernetes.model_dump(exclude_unset=True) if dep.kubernetes else {}
    merged = KubernetesSpec.model_validate({**shared.model_dump(exclude_unset=True), **own})
    return dep.model_copy(update={"kubernetes": merged})


def _engine_args(deployments, source: SourceMap):
    """Parse each deployment's engine.extra_args once, against its pinned release; every problem
    (unknown flag, bad value, a value vLLM refuses, a flag a spec key owns) at its list item."""
    import dataclasses

    from vllm_compile.engine_args import SPEC_KEYS, parse_extra_args

    errors: list[Diagnostic] = []
    out = []
    for dep in deployments:
        engine = dep.spec.engine
        args, problems = parse_extra_args(engine.version, tuple(engine.extra_args))
        prefix = dep.key_prefix + "engine.extra_args"
        for problem in problems:
            if problem.severity == "error":
                errors.append(source.error(f"{prefix}[{problem.index}]", problem.message, found=problem.found,
                                           expected=problem.expected, fix=problem.fix, code=problem.code))
        for arg in args.args:
            key = SPEC_KEYS.get(arg.dest)
            if key is None:
                continue
            section, name = key.split(".")
            block = getattr(dep.spec, section)
            given = " ".join((arg.option, *arg.raw))
            if name in block.model_fields_set:
                message = (f"{given} clashes with {dep.key_prefix}{key}: {getattr(block, name)!r} "
                           f"(both set --{arg.dest.replace('_', '-')})")
            else:
                message = f"{given} sets what {dep.key_prefix}{key} sets; the spec key is the one place for it"
            errors.append(source.error(f"{prefix}[{arg.index}]", message, found=given,
                                       expected=f"{dep.key_prefix}{key} in the spec",
                                       fix=f"remove it from engine.extra_args and set {dep.key_prefix}{key}", code="VC524"))
        out.append(dataclasses.replace(dep, engine_args=args))
    if errors:
        raise CompileError(sorted(errors, key=lambda d: (d.line or 0, d.column or 0)))
    return tuple(out)
