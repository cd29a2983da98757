"""The one place that talks to the Hugging Face Hub: `vllm-compile lock` fetches a repo's
commit, config files and safetensors headers (never the weights) into a lock entry."""
from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from typing import Callable, Iterator

from .counting import loaded_dtype_counts
from .sources import hub_cache_dir, read_json

OPTIONAL_FILES = ("hf_quant_config.json",)


class HubError(Exception):
    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.message = message
        self.fix = fix


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


@contextmanager
def _hub_errors(repo_id: str, token_env: str, *, revision: str, fix_id: str,
                missing_file: str | None = None) -> Iterator[None]:
    """The Hub's failures (gated, missing repo, revision or file, offline, HTTP, network) as
    HubErrors that say what to do; shared by every fetch so they read the same."""
    from huggingface_hub import errors

    try:
        yield
    except HubError:
        raise
    except errors.GatedRepoError:
        token = os.environ.get(token_env)
        raise HubError(f"{repo_id} is gated and the token in ${token_env} "
                       f"{'has no access to it' if token else 'is not set'}",
                       fix=f"accept the licence on huggingface.co/{repo_id} and export {token_env}=<token>") from None
    except errors.RevisionNotFoundError:
        raise HubError(f"{repo_id} has no revision {revision!r}", fix="check model.revision") from None
    except errors.EntryNotFoundError:
        if missing_file is None:
            raise
        raise HubError(f"{repo_id} {missing_file}", fix=fix_id) from None
    except errors.RepositoryNotFoundError:
        raise HubError(f"{repo_id} was not found on the Hub (or is private and ${token_env} gives no access)",
                       fix=f"{fix_id}, or export {token_env}=<token>") from None
    except errors.OfflineModeIsEnabled:
        raise HubError("HF_HUB_OFFLINE is set, but `lock` needs the network",
                       fix="unset HF_HUB_OFFLINE for this command") from None
    except errors.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in (401, 403):
            raise HubError(f"the Hub refused access to {repo_id} (HTTP {status}); the token is read from "
                           f"${token_env}", fix=f"export {token_env}=<token with access to {repo_id}>") from None
        raise HubError(f"the Hub answered HTTP {status} for {repo_id}: {exc}",
                       fix=f"check ${token_env} and retry") from None
    except Exception as exc:  # network failures come as several httpx/OS exception types
        if exc.__class__.__module__.startswith(("httpx", "httpcore", "socket", "ssl")) or isinstance(exc, OSError):
            raise HubError(f"cannot reach the Hub for {repo_id}: {exc.__class__.__name__}: {exc}",
                           fix="check the network (or HF_ENDPOINT) and retry") from None
        raise


def fetch(model_id: str, revision: str | None, *, token_env: str,
          progress: Callable[[str], None] = lambda _: None) -> dict:
    """A lock entry for `model_id` at `revision` (default main), built from the Hub."""
    from pathlib import Path

    import huggingface_hub as hh
    from huggingface_hub import errors

    token = os.environ.get(token_env) or None
    # Read now rather than at huggingface_hub import, so HF_ENDPOINT/HF_HUB_CACHE set by the
    # caller always apply.
    endpoint = os.environ.get("HF_ENDPOINT") or None
    cache_dir = str(hub_cache_dir())
    api = hh.HfApi(endpoint=endpoint, token=token)
    wanted = revision or "main"
    with _hub_errors(model_id, token_env, revision=wanted, fix_id="check model.id"):
        progress(f"{model_id}: resolving revision {wanted}")
        info = api.model_info(model_id, revision=wanted)
        commit = info.sha
        if not commit:
            raise HubError(f"the Hub returned no commit for {model_id}@{wanted}")
        siblings = {s.rfilename for s in (info.siblings or [])}
        files, contents = {}, {}
        for name in ("config.json", *OPTIONAL_FILES):
            if name != "config.json" and name not in siblings:
                continue
            progress(f"{model_id}: fetching {name} at {commit[:12]}")
            path = hh.hf_hub_download(model_id, name, revision=commit, token=token, endpoint=endpoint,
                                      cache_dir=cache_dir)
            files[name] = _sha256(path)
            contents[name] = read_json(Path(path), name)
        dtypes = None
        if any(s.endswith(".safetensors") for s in siblings) or not siblings:
            progress(f"{model_id}: reading safetensors headers")
            try:
                meta = api.get_safetensors_metadata(model_id, revision=commit, token=token)
            except errors.NotASafetensorsRepoError:
                meta = None
            if meta is not None:
                tensors = [(name, t.dtype, t.shape) for fm in meta.files_metadata.values()
                           for name, t in fm.tensors.items()]
                dtypes = loaded_dtype_counts(tensors, contents["config.json"])
    entry = {"revision": wanted, "commit": commit, "files": files, "config": contents["config.json"],
             "gated": bool(getattr(info, "gated", False))}
    if "hf_quant_config.json" in contents:
        entry["quant_config"] = contents["hf_quant_config.json"]
    if dtypes:
        entry["safetensors_dtypes"] = dtypes
    return entry


def fetch_adapter(repo_id: str, *, token_env: str, progress: Callable[[str], None] = lambda _: None) -> dict:
    """A lock entry for the LoRA adapter `repo_id` at its default branch (what vLLM downloads):
    the commit and its adapter_config.json."""
    from pathlib import Path

    import huggingface_hub as hh

    token = os.environ.get(token_env) or None
    endpoint = os.environ.get("HF_ENDPOINT") or None
    with _hub_errors(repo_id, token_env, revision="main", fix_id="check the adapter's id",
                     missing_file="has no adapter_config.json: not a PEFT adapter"):
        progress(f"{repo_id}: resolving revision main")
        commit = hh.HfApi(endpoint=endpoint, token=token).model_info(repo_id, revision="main").sha
        if not commit:
            raise HubError(f"the Hub returned no commit for {repo_id}@main")
        progress(f"{repo_id}: fetching adapter_config.json at {commit[:12]}")
        path = hh.hf_hub_download(repo_id, "adapter_config.json", revision=commit, token=token, endpoint=endpoint,
                                  cache_dir=str(hub_cache_dir()))
    return {"revision": "main", "commit": commit, "files": {"adapter_config.json": _sha256(path)},
            "adapter_config": read_json(Path(path), "adapter_config.json")}
