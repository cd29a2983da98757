"""Where a model's config comes from: hand-stated facts, a local folder, the lock, the
Hugging Face cache (strictly offline) or the bundled catalog — in that order."""
from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import struct
from functools import lru_cache

from vllm_compile.diagnostics import CompileError, SourceMap, did_you_mean
# The HF cache lookup lives outside the stage so `check` can ask it without loading the resolver.
from vllm_compile.hfcache import COMMIT, cached_snapshot, hub_cache_dir  # noqa: F401
from vllm_compile.ir.facts import LoraAdapterFacts, ModelFacts
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path  # imported where a local folder is read: a catalog compile does without it

    from vllm_compile.ir.spec import ModelFactsSpec, ModelSpec

from .config import FactsError
from .counting import loaded_dtype_counts
from .facts import facts_from_config
from .lockfile import adapter_entry, lock_entry, requested_revision

MAX_CONFIG_BYTES = 16 << 20   # a config.json is a few KB; refuse to parse anything huge
MAX_HEADER_BYTES = 256 << 20  # safetensors headers of the largest checkpoints stay far below this


class SourceError(Exception):
    """A config file that exists but cannot be read."""


# ------------------------------------------------------------------------------------------
# Reading files


def read_json(path: Path, what: str) -> dict:
    from vllm_compile.inputs import InputError
    from vllm_compile.inputs import read_json as read_bounded

    try:
        data = read_bounded(path, MAX_CONFIG_BYTES)
    except InputError as exc:
        raise SourceError(f"{what} {exc.reason}") from None
    if not isinstance(data, dict):
        raise SourceError(f"{what} is not a JSON object")
    return data


def safetensors_header(path: Path) -> list[tuple[str, str, list[int]]]:
    """(name, dtype, shape) of every tensor in one .safetensors file, read from its header only."""
    import stat

    from vllm_compile.inputs import InputError, check_json_depth

    try:
        with open(path, "rb", buffering=0) as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise SourceError(f"{path.name} is not a regular file")
            (size,) = struct.unpack("<Q", f.read(8))
            if size > MAX_HEADER_BYTES:
                raise SourceError(f"{path.name}: header of {size} bytes is not a safetensors header")
            text = f.read(size).decode("utf-8")
            check_json_depth(text)
            header = json.loads(text)
    except InputError as exc:
        raise SourceError(f"{path.name}: safetensors header {exc.reason}") from None
    except (OSError, struct.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceError(f"{path.name} is not a readable safetensors file ({exc.__class__.__name__})") from None
    if not isinstance(header, dict):
        raise SourceError(f"{path.name}: safetensors header is not an object")
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict) or not isinstance(info.get("shape"), list):
            raise SourceError(f"{path.name}: tensor {name!r} has no shape")
        out.append((name, str(info.get("dtype")), info["shape"]))
    return out


def folder_dtype_counts(folder: Path, config: dict) -> dict[str, int] | None:
    """Per-dtype counts from the folder's safetensors headers, when every shard is present."""
    index = folder / "model.safetensors.index.json"
    if index.exists():
        weight_map = read_json(index, "model.safetensors.index.json").get("weight_map")
        if not isinstance(weight_map, dict):
            raise SourceError("model.safetensors.index.json has no weight_map")
        files = sorted({str(v) for v in weight_map.values()})
        if not files or any("/" in f or not (folder / f).exists() for f in files):
            return None
    else:
        files = sorted(p.name for p in folder.glob("*.safetensors"))
        if not files:
            return None
    tensors = []
    for name in files:
        tensors += safetensors_header(folder / name)
    return loaded_dtype_counts(tensors, config)


def _optional(folder: Path, name: str) -> dict | None:
    path = folder / name
    return read_json(path, name) if path.exists() else None


# ------------------------------------------------------------------------------------------
# Catalog and HF cache


# The package's own folder (data/ is installed beside the modules, as flags.py reads it):
# a plain path, so that importlib.resources and its zip support stay unimported.
CATALOG_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__)))),
                            "data", "model-configs")


def _catalog_root() -> str:
    return CATALOG_ROOT


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


@lru_cache(maxsize=1)
def _catalog() -> dict:
    return json.loads(_read_text(os.path.join(_catalog_root(), "catalog.json")))


def catalog_ids() -> list[str]:
    root = _catalog_root()
    ids = []
    for org in os.listdir(root):
        if os.path.isdir(os.path.join(root, org)):
            ids += [f"{org}/{repo}" for repo in os.listdir(os.path.join(root, org))
                    if os.path.isfile(os.path.join(root, org, repo, "config.json"))]
    return sorted(ids)


def in_catalog(model_id: str) -> bool:
    """`model_id in catalog_ids()`, from the two folder listings it needs instead of all of them."""
    org, _, repo = model_id.partition("/")
    if not org or not repo or "/" in repo:
        return False
    root = _catalog_root()
    try:
        return (org in os.listdir(root) and repo in os.listdir(os.path.join(root, org))
                and os.path.isfile(os.path.join(root, org, repo, "config.json")))
    except (NotADirectoryError, FileNotFoundError):
        return False


def variant_ids(model_id: str | None) -> list[str]:
    return list(_catalog().get("variants", {}).get(model_id or "", []))


def is_gated(model_id: str | None) -> bool:
    return bool(model_id) and any(fnmatch.fnmatchcase(model_id, p) for p in _catalog()["gated"])


# ------------------------------------------------------------------------------------------
# Resolution


def spec_facts_config(facts: ModelFactsSpec) -> dict:
    """Hand-stated facts in config.json form (the spec uses config.json key names)."""
    return facts.model_dump(exclude_none=True)


def resolve_model(model: ModelSpec, *, spec_dir: str, source: SourceMap, key_prefix: str,
                  lock: dict | None = None) -> ModelFacts:
    """Facts for one deployment's model; every failure is a `CompileError` at the spec key."""
    facts = _resolve(model, spec_dir=spec_dir, source=source, key_prefix=key_prefix, lock=lock)
    if model.lora_adapters:
        facts = dataclasses.replace(facts, lora_adapters=resolve_adapters(
            model, spec_dir=spec_dir, source=source, key_prefix=key_prefix, lock=lock))
    if facts.quantization is None and model.quantization is None and model.facts is None:
        lighter = tuple(_catalog_facts(repo) for repo in variant_ids(model.id))
        if lighter:
            facts = dataclasses.replace(facts, lighter_variants=lighter)
    return facts


ADAPTER_CONFIG = "adapter_config.json"


def adapter_rank(config: dict) -> int:
    """The largest LoRA rank of a PEFT adapter_config.json: `r`, or a larger per-module rank of
    `rank_pattern` (vLLM refuses an adapter whose rank exceeds --max-lora-rank)."""
    pattern = config.get("rank_pattern")
    values = [config.get("r"), *(pattern.values() if isinstance(pattern, dict) else ())]
    ranks = [r for r in values if isinstance(r, int) and not isinstance(r, bool) and r >= 1]
    if len(ranks) != len(values):
        raise SourceError("adapter_config.json has no LoRA rank `r` (a positive integer): not a LoRA adapter")
    return max(ranks)


def resolve_adapters(model: ModelSpec, *, spec_dir: str, source: SourceMap, key_prefix: str,
                     lock: dict | None = None) -> tuple[LoraAdapterFacts, ...]:
    """Each adapter's rank from its adapter_config.json: a local folder, or by repo id the lock
    file, else the Hugging Face cache (strictly offline). Every problem of every adapter is
    reported at once."""
    out, errors, seen = [], [], set()
    for i, adapter in enumerate(model.lora_adapters):
        key = f"{key_prefix}model.lora_adapters[{i}]"
        if adapter.name in seen or adapter.name == model.served_model_name:
            errors.append(source.error(key + ".name", f"adapter name {adapter.name!r} is already taken",
                                       found=adapter.name, expected="a name no other adapter (nor the model) has",
                                       fix="give each adapter its own name: clients pick it by this name", code="VC321"))
        seen.add(adapter.name)
        if adapter.revision is not None:
            errors.append(source.error(
                key + ".revision", "vLLM's --lora-modules takes no revision: it downloads the repo's default branch",
                found=adapter.revision, expected="no revision for an adapter served by id",
                fix=f"download that revision (`hf download {adapter.id or '<repo>'} --revision {adapter.revision} "
                    "--local-dir adapters/NAME`) and give the folder as path", code="VC322"))
            continue
        try:
            if adapter.path is not None:
                from pathlib import Path

                folder = Path(spec_dir) / adapter.path
                if not (folder / ADAPTER_CONFIG).is_file():
                    errors.append(source.error(key + ".path", "no adapter_config.json in the adapter folder",
                                               found=adapter.path,
                                               fix="point path at the PEFT adapter folder (adapter_config.json "
                                                   "and adapter_model.safetensors)", code="VC323"))
                    continue
                rank = adapter_rank(read_json(folder / ADAPTER_CONFIG, ADAPTER_CONFIG))
                out.append(LoraAdapterFacts(adapter.name, rank, f"path:{adapter.path}"))
                continue
            assert adapter.id is not None
            locked = adapter_entry(lock, adapter.id)
            if locked is not None and isinstance(locked.get("adapter_config"), dict):
                rank = adapter_rank(locked["adapter_config"])
                out.append(LoraAdapterFacts(adapter.name, rank, f"lock:{adapter.id}@{locked.get('commit')}",
                                            repo_id=adapter.id))
                continue
            cached = cached_snapshot(adapter.id, None, marker=ADAPTER_CONFIG)
            if cached is None:
                errors.append(source.error(
                    key + ".id", f"adapter {adapter.id} is not in the Hugging Face cache ({hub_cache_dir()}); "
                    "vllm-compile reads its rank offline", found=adapter.id,
                    fix=f"run `vllm-compile lock SPEC` (or fetch its config: `hf download {adapter.id} "
                        f"{ADAPTER_CONFIG}`), or download the adapter and give its folder as path", code="VC324"))
                continue
            folder, commit = cached
            rank = adapter_rank(read_json(folder / ADAPTER_CONFIG, ADAPTER_CONFIG))
            out.append(LoraAdapterFacts(adapter.name, rank, f"hf-cache:{adapter.id}@{commit}", repo_id=adapter.id))
        except SourceError as exc:
            errors.append(source.error(key + (".path" if adapter.path is not None else ".id"),
                                       f"{adapter.path or adapter.id}: {exc}",
                                       fix="point it at a PEFT LoRA adapter", code="VC325"))
    if errors:
        raise CompileError(errors)
    return tuple(out)


def _catalog_config(model_id: str) -> tuple[dict, dict | None]:
    """A vendored config.json and its hf_quant_config.json, when there is one."""
    folder = os.path.join(_catalog_root(), model_id)
    config = json.loads(_read_text(os.path.join(folder, "config.json")))
    quant_file = os.path.join(folder, "hf_quant_config.json")
    return config, json.loads(_read_text(quant_file)) if os.path.isfile(quant_file) else None


def _catalog_facts(model_id: str) -> ModelFacts:
    config, quant_config = _catalog_config(model_id)
    return facts_from_config(config, model_id=model_id, source="catalog", quant_config=quant_config,
                             gated=is_gated(model_id))


def _resolve(model: ModelSpec, *, spec_dir: str, source: SourceMap, key_prefix: str,
             lock: dict | None) -> ModelFacts:
    key_id, key_path = key_prefix + "model.id", key_prefix + "model.path"
    gated = model.gated if model.gated is not None else is_gated(model.id)
    common = dict(quantization=model.quantization, dtype=model.dtype, gated=gated)

    def build(config: dict, key: str, where: str, **kw) -> ModelFacts:
        try:
            return facts_from_config(config, **{**common, **kw})
        except FactsError as exc:
            spec_key = key_prefix + exc.key if exc.key == "model.quantization" else key
            message = exc.message if exc.key == "model.quantization" else f"{where}: {exc.message}"
            raise CompileError([source.error(spec_key, message, fix=exc.fix or (
                "state the architecture under model.facts" if spec_key == key else None), code="VC301")]) from None

    if model.facts is not None:
        return build(spec_facts_config(model.facts), key_prefix + "model.facts", "model.facts",
                     model_id=model.id or "local", source="spec", generic_ok=True)

    if model.path is not None:
        from pathlib import Path

        folder = Path(spec_dir) / model.path
        if not (folder / "config.json").exists():
            raise CompileError([source.error(key_path, "no config.json in the model folder",
                                             found=model.path, fix="point model.path at a folder holding "
                                             "the checkpoint's config.json", code="VC302")])
        try:
            config = read_json(folder / "config.json", "config.json")
            extra = dict(quant_config=_optional(folder, "hf_quant_config.json"),
                         safetensors_dtypes=folder_dtype_counts(folder, config))
        except (SourceError, FactsError) as exc:
            raise CompileError([source.error(key_path, f"{model.path}: {exc}", code="VC303")]) from None
        return build(config, key_path, f"{model.path}/config.json", model_id=model.id or model.path,
                     source=f"path:{model.path}", **extra)

    if not model.id:
        raise CompileError([source.error(key_prefix + "model", "the model needs an id or a path",
                                         fix="set model.id to a Hugging Face repo id, or model.path", code="VC214")])

    entry = lock_entry(lock, model.id)
    if entry is not None:
        if entry.get("revision") != requested_revision(model):
            raise CompileError([source.error(
                key_prefix + "model.revision", "the lock file was made for another revision of this model",
                found=requested_revision(model), expected=str(entry.get("revision")),
                fix="run `vllm-compile lock SPEC` again", code="VC304")])
        if not isinstance(entry.get("config"), dict):
            raise CompileError([source.error(key_id, "the lock entry for this model has no config",
                                             fix="run `vllm-compile lock SPEC` again", code="VC305")])
        return _from_lock(build, entry, model, key_id, gated)

    snapshot = cached_snapshot(model.id, model.revision)
    if snapshot is not None:
        folder, commit = snapshot
        try:
            config = read_json(folder / "config.json", "config.json")
            extra = dict(quant_config=_optional(folder, "hf_quant_config.json"),
                         safetensors_dtypes=folder_dtype_counts(folder, config))
        except SourceError as exc:
            raise CompileError([source.error(key_id, f"{model.id} in the Hugging Face cache: {exc}", code="VC306")]) from None
        return build(config, key_id, f"{model.id} (HF cache)", model_id=model.id, source="hf-cache",
                     revision=commit, **extra)

    if in_catalog(model.id):
        config, quant_config = _catalog_config(model.id)
        facts = build(config, key_id, f"{model.id} (catalog)", model_id=model.id, source="catalog",
                      quant_config=quant_config)
        if model.revision and model.revision != "main":
            return _with_warning(facts, f"the bundled catalog holds one revision of {model.id}; "
                                        f"revision {model.revision!r} was not checked (run `vllm-compile lock`)")
        return facts

    raise CompileError([_not_found(model, catalog_ids(), spec_dir=spec_dir, source=source, key_id=key_id, lock=lock)])


def _not_found(model: ModelSpec, ids: list[str], *, spec_dir: str, source: SourceMap, key_id: str,
               lock: dict | None):
    """No config anywhere offline: where it looked, the nearest catalog names, and the three ways on."""
    assert model.id, "only a model named by id is looked up"
    from pathlib import Path

    folder = Path(spec_dir) / model.id
    local = folder.is_dir() and (folder / "config.json").is_file()
    is_spec = source.file.endswith((".yaml", ".yml"))
    looked = [
        f"a local folder {folder}" + (" (it holds a config.json: a repo id is never read from disk)" if local
                                      else " (none)"),
        f"the Hugging Face cache {hub_cache_dir() / ('models--' + model.id.replace('/', '--'))} (revision "
        f"{requested_revision(model)}: not cached)",
        (f"the lock file {source.file}.lock (" + ("no entry for this model" if lock else "none") + ")") if is_spec
        else "no lock file (none is read without a spec)",
        f"the bundled catalog ({len(ids)} models, `vllm-compile models` lists them: not there)",
    ]
    suggestions = did_you_mean(model.id, ids)
    if not suggestions:
        # The same model under another organisation, or a longer name that contains this one.
        name = model.id.rsplit("/", 1)[-1].lower()
        suggestions = [i for i in ids if name and (name in i.lower() or i.rsplit("/", 1)[-1].lower() in name)][:3]
    message = f"no config.json found for {model.id} offline; looked in: " + "; ".join(looked)
    if suggestions:
        message += f". Nearest catalog names: {', '.join(suggestions)}"
    spec = source.file if is_spec else "SPEC"
    fix = (f"one of: (1) `vllm-compile lock {spec}` once with network access (pins its config in the lock file"
           + ("" if is_spec else f" of a spec whose model.id is {model.id}") + "); "
           + "(2) download the checkpoint and set model.path to its folder"
           + (f" (model.path: {model.id})" if local else "" if is_spec else ", or pass the folder as MODEL")
           + "; (3) state the architecture by hand under model.facts (keys as in config.json: model_type, "
           "num_hidden_layers, hidden_size, num_attention_heads, intermediate_size, vocab_size, "
           "max_position_embeddings; schema: `vllm-compile schema`, #/$defs/ModelFactsSpec)")
    return source.error(key_id, message, fix=fix, code="VC307")


def _from_lock(build, entry: dict, model: ModelSpec, key_id: str, gated: bool) -> ModelFacts:
    if model.gated is None and isinstance(entry.get("gated"), bool):
        gated = entry["gated"]
    return build(entry["config"], key_id, f"{model.id} (lock)", model_id=model.id, source="lock",
                 quant_config=entry.get("quant_config"), safetensors_dtypes=entry.get("safetensors_dtypes"),
                 revision=entry.get("commit"), gated=gated)


def _with_warning(facts: ModelFacts, message: str) -> ModelFacts:
    from dataclasses import replace

    return replace(facts, warnings=(*facts.warnings, message))
