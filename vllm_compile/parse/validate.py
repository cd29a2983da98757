"""Validate the loaded document against the spec model and turn every violation into a diagnostic.

All schema violations are reported at once. Semantic checks that a schema cannot express
(inline secrets, output folders outside the spec's tree, duplicate names/ports) follow in the
same pass, so one run shows the user everything that is wrong.
"""
from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from vllm_compile.diagnostics import CompileError, Diagnostic, SourceMap, did_you_mean

SECRET_PATTERNS = (
    (re.compile(r"^hf_[A-Za-z0-9]{20,}$"), "a Hugging Face token"),
    (re.compile(r"^sk-[A-Za-z0-9_-]{16,}$"), "an API key"),
    (re.compile(r"^(ghp|gho|github_pat)_[A-Za-z0-9_]{20,}$"), "a GitHub token"),
    (re.compile(r"^[A-Za-z0-9+/_=-]{32,}$"), "a secret-looking string"),
)
SECRET_FLAGS = ("--api-key", "--hf-token")


def key_path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def validate_document(document: dict, source: SourceMap):
    """Return the validated `SpecFile`, or raise CompileError listing every problem."""
    import json

    diagnostics: list[Diagnostic] = []
    diagnostics += _secret_checks(document, source)  # before schema: a pasted token must never be echoed back
    diagnostics += _semantic_checks(document, source)
    # Strict JSON-mode validation accepts exactly what the JSON Schema accepts: "8000" is not
    # a port and "true" is not a boolean (YAML already typed unquoted scalars).
    text = json.dumps(document)
    if not any(d.severity == "error" for d in diagnostics):
        from vllm_compile.parse.fast import validate_fast

        record = validate_fast(json.loads(text))  # pydantic-free; None when pydantic must decide
        if record is not None:
            return record
    from pydantic import ValidationError

    from vllm_compile.ir.spec import SpecFile

    try:
        spec_file = SpecFile.model_validate_json(text, strict=True)
    except ValidationError as exc:
        secret_keys = {d.key for d in diagnostics}
        diagnostics += [_from_pydantic(error, document, source) for error in exc.errors()
                        if key_path(tuple(error["loc"])) not in secret_keys]
        raise CompileError(_dedupe(diagnostics)) from None
    if any(d.severity == "error" for d in diagnostics):
        raise CompileError(_dedupe(diagnostics))
    return spec_file


def _dedupe(diagnostics):
    seen, out = set(), []
    for d in sorted(diagnostics, key=lambda d: (d.line or 0, d.column or 0)):
        if (d.key, d.message) not in seen:
            seen.add((d.key, d.message))
            out.append(d)
    return out


def _model_for(loc: tuple):
    """The pydantic model class that owns the last key of `loc` (for did-you-mean)."""
    from vllm_compile.ir import spec as s

    model = s.SpecFile
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        inner = _model_in(field.annotation)
        if inner is None:
            return None
        model = inner
    return model


def _model_in(annotation):
    from typing import get_args

    from pydantic import BaseModel

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _describe(value) -> str:
    if isinstance(value, str):
        return repr(value) if len(value) <= 60 else repr(value[:57] + "...")
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return repr(value)


def _from_pydantic(error: Mapping[str, Any], document: dict, source: SourceMap) -> Diagnostic:
    loc = tuple(error["loc"])
    map_key = loc[-1:] == ("[key]",)    # the key of a mapping (a Kubernetes label name) is wrong
    loc = loc[:-1] if map_key else loc
    key = key_path(loc)
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        model = _model_for(loc)
        known = sorted(model.model_fields) if model else []
        guesses = did_you_mean(str(loc[-1]), known)
        fix = f"did you mean '{guesses[0]}'?" if guesses else f"remove the key; allowed keys here: {', '.join(known)}"
        return source.error(key, f"unknown key '{loc[-1]}'", expected="one of " + ", ".join(known) if known else None,
                            fix=fix, code="VC201")
    if kind == "missing":
        parent = key_path(loc[:-1])
        return source.error(parent or None, f"missing required key '{loc[-1]}'",
                            fix=f"add `{loc[-1]}:` under `{parent}`" if parent else f"add `{loc[-1]}:` at the top level", code="VC202")
    if kind == "literal_error":
        expected = ctx.get("expected", "")
        guesses = did_you_mean(str(value), re.findall(r"'([^']+)'", expected)) if isinstance(value, str) else []
        return source.error(key, "value not allowed", found=_describe(value), expected=expected,
                            fix=f"did you mean '{guesses[0]}'?" if guesses else f"use one of {expected}", code="VC203")
    if kind == "string_pattern_mismatch":
        shown = "a value that is not an environment variable name (not shown)" if key.endswith("_env") else _describe(value)
        # By the key's own name, else (an entry of a mapping: a label) by the mapping's name.
        last, parent = str(loc[-1]), str(loc[-2]) if len(loc) > 1 else ""
        hint, fix = PATTERN_HELP.get(f"{parent}[key]" if map_key else last) or PATTERN_HELP.get(
            parent, ("the documented form", "see `vllm-compile schema`"))
        return source.error(key, "key has the wrong form" if map_key else "value has the wrong form",
                            found=shown, expected=hint, fix=fix, code="VC204")
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        return source.error(key, "value out of range", found=_describe(value), expected=error["msg"].lower(),
                            fix="use a value " + error["msg"].lower().replace("input should be ", ""), code="VC205")
    if kind in ("too_short", "string_too_short"):
        return source.error(key, "value is empty", found=_describe(value), expected=error["msg"].lower(),
                            fix="give a value or remove the key", code="VC206")
    if kind in ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing", "bool_type",
                "bool_parsing", "string_type", "dict_type", "model_type", "tuple_type", "list_type", "model_attributes_type"):
        wanted = {"int": "an integer", "float": "a number", "bool": "true or false", "string": "a string",
                  "dict": "a mapping", "model": "a mapping", "tuple": "a list", "list": "a list"}
        expected = next((v for k, v in wanted.items() if kind.startswith(k)), error["msg"])
        return source.error(key, "wrong type", found=_describe(value), expected=expected,
                            fix=f"write {expected} here" + (" (quote a version like \"0.33.0\")" if key.endswith("version") else ""), code="VC207")
    return source.error(key, error["msg"], found=_describe(value), fix="see `vllm-compile schema` for this key", code="VC208")


# Keys with a `pattern`: what the form is, and how to write it (by the key's last part).
PATTERN_HELP = {
    "name": ("a DNS-1123 label: lowercase letters, digits and '-', at most 63 characters",
             "rename, e.g. 'llama-chat'"),
    "id": ("a Hugging Face repo id like 'org/model'",
           "write the repo id as shown on Hugging Face, e.g. meta-llama/Llama-3.1-8B-Instruct"),
    "version": ("a vLLM release like \"0.33.0\"", "quote the release, e.g. version: \"0.33.0\""),
    "api_key_env": ("the NAME of an environment variable (UPPER_CASE), not the key itself",
                    "put the key in an environment variable and name it here, e.g. VLLM_API_KEY"),
    "hf_token_env": ("the NAME of an environment variable (UPPER_CASE), not the token itself",
                     "name the environment variable, e.g. HF_TOKEN"),
    "image": ("an image reference like vllm/vllm-openai:v0.33.0, optionally @sha256:<digest>",
              "e.g. vllm/vllm-openai:v0.33.0"),
    "host": ("an IP address of this host, like 127.0.0.1, 0.0.0.0 or ::1",
             "write 127.0.0.1 (this host only) or 0.0.0.0 (every interface; set server.api_key_env too)"),
    "cache_size": ("a Kubernetes size in binary units, like 200Gi", "write e.g. 200Gi (Ki, Mi, Gi, Ti, Pi)"),
    "labels": ("a Kubernetes label value: at most 63 of A-Z a-z 0-9 - _ . (alphanumeric at both ends)",
               "e.g. team: search"),
    "node_selector": ("a Kubernetes label value: at most 63 of A-Z a-z 0-9 - _ . (alphanumeric at both ends)",
                      "write the node label's value as `kubectl get nodes --show-labels` shows it"),
    "labels[key]": ("a Kubernetes label key: [prefix/]name, name at most 63 of A-Z a-z 0-9 - _ .",
                    "e.g. team or example.com/team"),
}
PATTERN_HELP["node_selector[key]"] = PATTERN_HELP["annotations[key]"] = PATTERN_HELP["labels[key]"]


def _walk_strings(node, path=""):
    """(key path, string) of every string of the document, mapping keys included."""
    if isinstance(node, dict):
        for k, v in node.items():
            child = f"{path}.{k}" if path else str(k)
            if isinstance(k, str):
                yield child, k
            yield from _walk_strings(v, child)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk_strings(v, f"{path}[{i}]")
    elif isinstance(node, str):
        yield path, node


# Names bash gives a meaning of its own: `$_` is the previous command's last argument.
SHELL_SPECIAL_NAMES = {"_"}


def _secret_checks(document: dict, source: SourceMap) -> list[Diagnostic]:
    """Every string of the spec goes through the one secret detector: a secret anywhere would be
    copied into the artifacts (or echoed in a message), so it is refused and never shown."""
    from vllm_compile.secret_scan import find_secret

    from vllm_compile.parse.yaml_source import CONTROL

    out = []
    for key, value in _walk_strings(document):
        leaf = key.rsplit(".", 1)[-1]
        control = CONTROL.search(value)
        if control:  # written as an escape ("\0", "\e", "\N") in a quoted scalar
            out.append(source.error(key, f"control character U+{ord(control.group()):04X} is not allowed",
                                    fix="delete it: Compose, docker and the shell would each read it differently", code="VC113"))
            continue
        found = find_secret(value)
        if leaf.endswith("_env"):
            env_like = re.fullmatch(r"[A-Z_][A-Z0-9_]*", value) is not None
            if found or (not env_like and any(p.match(value) for p, _ in SECRET_PATTERNS)):
                what = found or next(w for p, w in SECRET_PATTERNS if p.match(value))
                out.append(source.error(key, f"this looks like {what}, not the name of an environment variable",
                                        found="a secret value (not shown)",
                                        expected="an environment variable NAME such as HF_TOKEN",
                                        fix="remove the secret from the file (and rotate it), export it as an "
                                            "environment variable, and write that variable's name here", code="VC210"))
            elif env_like and (len(value) < 2 or value in SHELL_SPECIAL_NAMES):
                out.append(source.error(key, f"'{value}' is a name the shell treats specially ($_ is the last "
                                             "argument of the previous command), not a variable to hold a secret",
                                        found=repr(value), expected="[A-Z_][A-Z0-9_]*, at least 2 characters",
                                        fix="name an ordinary environment variable, e.g. VLLM_API_KEY", code="VC219"))
            continue
        if re.search(r"\.extra_args\[\d+\]$", key):
            flag = value.strip().split("=", 1)[0].split(None, 1)[0].replace("_", "-") if value.strip() else ""
            if flag in SECRET_FLAGS:
                out.append(source.error(key, f"{flag} would write a secret into the artifacts",
                                        found=flag, expected="secrets passed by environment variable",
                                        fix="set server.api_key_env (for --api-key) or server.hf_token_env "
                                            "(for --hf-token) to the NAME of an environment variable", code="VC211"))
                continue
        if found:
            out.append(source.error(key, f"this value holds what looks like {found}; it would be copied into "
                                         "the artifacts", found="a secret value (not shown)",
                                    expected="no secret in the spec",
                                    fix="remove the secret from the file (and rotate it); pass secrets through "
                                        "environment variables (server.hf_token_env, server.api_key_env)", code="VC212"))
    return out


def _semantic_checks(document: dict, source: SourceMap) -> list[Diagnostic]:
    """Checks a schema cannot express. They read the raw document defensively (it may still
    hold type errors the schema reports), so one run shows every problem."""
    def mapping(value) -> dict:
        return value if isinstance(value, dict) else {}

    out: list[Diagnostic] = []
    single_keys = [k for k in ("name", "model", "workload", "engine", "server") if k in document]
    if "deployments" not in document:
        for required in ("name", "model"):
            if document.get(required) is None:
                out.append(source.error(required if required in document else None,
                                        f"missing required key '{required}'",
                                        fix=f"add `{required}:` at the top level (or list deployments under `deployments:`)", code="VC202"))
        deployments = [("", document)]
    else:
        for k in single_keys:
            out.append(source.error(k, f"'{k}' cannot stand at the top level next to 'deployments:'",
                                    fix=f"move '{k}' into each item of deployments:", code="VC213"))
        items = document["deployments"] if isinstance(document["deployments"], list) else []
        if document["deployments"] is None:
            out.append(source.error("deployments", "deployments is empty",
                                    expected="a list of deployments (each with name, model, engine)",
                                    fix="list the deployments under `deployments:`, or remove the key", code="VC206"))
        deployments = [(f"deployments[{i}].", mapping(d)) for i, d in enumerate(items)]
    names: dict[object, str] = {}
    ports: dict[int, object] = {}
    for prefix, dep in deployments:
        model = mapping(dep.get("model"))
        if "model" in dep and "id" not in model and "path" not in model:
            out.append(source.error(f"{prefix}model", "model needs an `id` (Hugging Face repo) or a local `path`",
                                    fix="add e.g. `id: meta-llama/Llama-3.1-8B-Instruct`", code="VC214"))
        if isinstance(model.get("path"), str):
            out += _model_path_checks(model["path"], f"{prefix}model.path", source)
        server = mapping(dep.get("server"))
        api_env, hf_env = server.get("api_key_env"), server.get("hf_token_env", "HF_TOKEN")
        if isinstance(api_env, str) and api_env == hf_env:
            # The server would accept the Hugging Face token as its API key: every client of the
            # API would then hold a credential to the model hub.
            out.append(source.error(f"{prefix}server.api_key_env",
                                    f"{api_env} is also server.hf_token_env: the server would take the "
                                    "Hugging Face token as its API key and every API client would need it",
                                    found=repr(api_env), expected="a variable of its own for the API key",
                                    fix="name another variable, e.g. `api_key_env: VLLM_API_KEY`", code="VC221"))
        out_dir = mapping(dep.get("output")).get("dir")
        if isinstance(out_dir, str) and (outside := _outside_tree(out_dir)):
            out.append(source.error(f"{prefix}output.dir", outside, found=repr(out_dir),
                                    expected="a folder inside the spec's folder tree",
                                    fix=f"use a relative path such as deploy/{dep.get('name', 'NAME')}", code="VC216"))
        name = dep.get("name")
        if prefix and isinstance(name, str):
            if name in names:
                out.append(source.error(f"{prefix}name", f"deployment name '{name}' is used twice",
                                        fix="give every deployment its own name", code="VC217"))
            names[name] = prefix
        # Only explicit ports can clash: an unset one takes the next free port (parse_spec).
        port = mapping(dep.get("server")).get("port")
        if prefix and isinstance(port, int):
            if port in ports:
                out.append(source.error(f"{prefix}server.port", f"host port {port} is already used by deployment "
                                        f"'{ports[port]}'", fix=f"pick another port, e.g. {max(ports) + 1}", code="VC218"))
            ports[port] = name
    top_dir = mapping(document.get("output")).get("dir") if "deployments" in document else None
    if isinstance(top_dir, str) and (outside := _outside_tree(top_dir)):
        out.append(source.error("output.dir", outside, found=repr(top_dir),
                                expected="a folder inside the spec's folder tree", fix="use a relative path such as deploy", code="VC216"))
    return out


def _model_path_checks(path: str, key: str, source: SourceMap) -> list[Diagnostic]:
    """model.path is mounted into the container: it must mean the same to Compose, docker and
    every machine the artifacts are used on."""
    if path.startswith("~"):
        return [source.error(key, "'~' is not expanded in model.path", fix="write the path relative to this spec file",
                             code="VC215")]
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return [source.error(key, "model.path must be relative to the spec file: an absolute path would make the "
                                  "artifacts differ from machine to machine", found=repr(path),
                             expected="a path relative to the spec file (it may lead outside with ../)",
                             fix="write the folder's path relative to this spec file", code="VC220")]
    if "\\" in path:
        return [source.error(key, "a backslash in model.path is read as a separator by some tools and as a "
                                  "character by others", found=repr(path), expected="'/' as the separator",
                             fix="write the path with '/' separators", code="VC220")]
    if ":" in path:
        return [source.error(key, "':' in model.path would be read as a separator of the volume mount",
                             found=repr(path), expected="a folder path without ':'",
                             fix="rename the folder (or link it) to a name without ':'", code="VC220")]
    return []


def _outside_tree(path: str) -> str | None:
    if path.startswith(("/", "\\", "~")) or re.match(r"^[A-Za-z]:", path):
        return "output.dir must be relative to the spec file"
    normal = posixpath.normpath(path.replace("\\", "/"))
    if normal == ".." or normal.startswith("../"):
        return "output.dir leaves the spec's folder tree"
    return None
