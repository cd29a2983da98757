"""The one table of diagnostic codes.

Every diagnostic carries a stable code (`error[VC203]`), grouped by the stage that finds it:
VC1xx input and YAML, VC2xx schema and spec keys, VC3xx model facts and hardware (resolve),
VC4xx planner verdicts, VC5xx engine flags, VC6xx lowering, emit and targets, VC7xx drift
(check/diff), VC8xx the fix command, VC9xx internal errors and I/O.

`Code` is a Literal so that mypy refuses a code missing from the table; `CODES` holds each code's
name, meaning and typical fix; the README's table is generated from it
(`python -m vllm_compile.codes --readme README.md`) and a test keeps the two equal.
A code, once published, keeps its meaning: retire it (RESERVED) rather than reuse it.

A new kind of diagnostic: add its code to `Code` and a row to `_ROWS` (in code order, in its
stage's hundred), pass `code="VCnnn"` where it is built, then `make codes` for the README.
"""
from __future__ import annotations

import sys
from vllm_compile.fastclass import dataclass
from typing import Literal, get_args

Code = Literal[
    "VC101", "VC102", "VC103", "VC104", "VC105", "VC106", "VC107", "VC108", "VC109", "VC110", "VC111", "VC112",
    "VC113", "VC114", "VC115", "VC116",
    "VC201", "VC202", "VC203", "VC204", "VC205", "VC206", "VC207", "VC208",
    "VC210", "VC211", "VC212", "VC213", "VC214", "VC215", "VC216", "VC217", "VC218", "VC219", "VC220",
    "VC221",
    "VC301", "VC302", "VC303", "VC304", "VC305", "VC306", "VC307", "VC308", "VC309",
    "VC310", "VC311", "VC312", "VC313", "VC314", "VC315", "VC316", "VC317", "VC318", "VC319", "VC320",
    "VC321", "VC322", "VC323", "VC324", "VC325", "VC326",
    "VC330", "VC331", "VC332",
    "VC401", "VC402", "VC403", "VC404", "VC405", "VC406", "VC407", "VC410", "VC411",
    "VC420", "VC421", "VC422", "VC423", "VC424", "VC425", "VC426", "VC427",
    "VC501", "VC502", "VC503", "VC504", "VC505", "VC506", "VC507", "VC508", "VC509", "VC510",
    "VC511", "VC512", "VC513", "VC514", "VC515", "VC516", "VC517", "VC518", "VC519",
    "VC520", "VC521", "VC522", "VC523", "VC524", "VC525", "VC526",
    "VC601", "VC602", "VC603", "VC604", "VC605", "VC606", "VC607", "VC608", "VC609", "VC610",
    "VC611", "VC612", "VC613", "VC614", "VC615", "VC616", "VC617",
    "VC701", "VC702", "VC703", "VC704", "VC705",
    "VC801",
    "VC901", "VC902", "VC903",
]


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    name: str
    meaning: str
    fix: str


STAGES = {
    "1": "input and YAML",
    "2": "schema and spec keys",
    "3": "model facts and hardware (resolve)",
    "4": "planner verdicts",
    "5": "engine flags (`engine.extra_args`, `predict`'s command line)",
    "6": "lowering, emit and targets",
    "7": "drift (`check`, `diff`)",
    "8": "the `fix` command",
    "9": "internal errors and I/O",
}

_ROWS: tuple[tuple[str, str, str, str], ...] = (
    # VC1xx: input and YAML
    ("VC101", "spec-not-found", "the spec file does not exist", "check the path"),
    ("VC102", "spec-is-folder", "a folder was given where a spec file was expected", "name the YAML file"),
    ("VC103", "spec-unreadable", "the spec file cannot be read (permissions; a FIFO, device or socket)",
     "check its permissions; name a regular file"),
    ("VC104", "spec-too-large", "the spec file is over the 1 MiB limit", "check that this is the right file"),
    ("VC105", "not-utf8", "the spec file is not UTF-8 text", "save it as UTF-8"),
    ("VC106", "yaml-syntax", "malformed YAML", "fix indentation, a missing `:` or quote at the position"),
    ("VC107", "duplicate-key", "a mapping holds the same key twice (YAML would keep the last)",
     "keep one occurrence"),
    ("VC108", "yaml-alias", "a YAML anchor or alias (refused to rule out alias bombs)", "write the value out"),
    ("VC109", "yaml-merge-key", "a YAML merge key `<<`", "write the merged keys out"),
    ("VC110", "document-count", "not exactly one YAML document", "remove extra `---` separators"),
    ("VC111", "not-a-mapping", "the document is not a mapping of keys", "start the file with `version: 1`"),
    ("VC112", "no-specs", "no spec given and none found", "name the spec files"),
    ("VC113", "control-character", "a control character in the spec (raw, or escaped in a quoted value)",
     "delete it"),
    ("VC114", "yaml-tag", "an explicit YAML tag (`!x`, `!!python/...`)", "remove the tag; write a plain value"),
    ("VC115", "yaml-too-deep", "YAML nesting deeper than 24 levels", "check that this is the right file"),
    ("VC116", "spec-file-name", "the spec file's name is not UTF-8 or holds a control character",
     "rename the file"),
    # VC2xx: schema and spec keys
    ("VC201", "unknown-key", "a key the schema does not know", "fix its spelling (the message lists the keys)"),
    ("VC202", "missing-key", "a required key is missing", "add it"),
    ("VC203", "value-not-allowed", "a value outside the allowed set", "use one of the listed values"),
    ("VC204", "wrong-form", "a value or key of the wrong form (pattern)", "follow the expected form"),
    ("VC205", "out-of-range", "a number out of range", "use a value within the bounds"),
    ("VC206", "empty-value", "an empty value where one is needed", "give a value"),
    ("VC207", "wrong-type", "a value of the wrong type", "use the expected type (quotes matter)"),
    ("VC208", "invalid-value", "a value the schema refuses", "see `vllm-compile schema` for the key"),
    ("VC210", "secret-in-env-name", "a secret where the name of an environment variable belongs",
     "put the secret in the environment and name the variable"),
    ("VC211", "secret-flag", "a flag that would write a secret into the artifacts",
     "pass it through server.api_key_env / server.hf_token_env"),
    ("VC212", "secret-value", "a spec value that looks like a secret token (it would be copied into the artifacts)",
     "remove it (and rotate it); pass secrets by environment"),
    ("VC213", "beside-deployments", "a per-deployment key at the top level next to `deployments:`",
     "move it into each deployment"),
    ("VC214", "model-source", "the model has neither an `id` nor a `path`", "set model.id or model.path"),
    ("VC215", "tilde-path", "`~` in model.path is not expanded", "write the path relative to the spec"),
    ("VC216", "output-outside", "the output folder lies outside the spec's folder", "use a folder under it"),
    ("VC217", "duplicate-name", "two deployments share a name", "rename one"),
    ("VC218", "duplicate-port", "two deployments share a host port", "give each its own server.port"),
    ("VC219", "special-env-name", "an `*_env` key names a variable the shell treats specially (`_`, one letter)",
     "name an ordinary variable, e.g. VLLM_API_KEY"),
    ("VC220", "model-path-form", "model.path is absolute, or holds a backslash or ':'",
     "write it relative to the spec with '/' separators"),
    ("VC221", "shared-secret-env", "server.api_key_env names the same variable as server.hf_token_env",
     "give the API key a variable of its own, e.g. VLLM_API_KEY"),
    # VC3xx: model facts and hardware
    ("VC301", "model-facts", "the model's config cannot be turned into architecture facts",
     "state the architecture under model.facts"),
    ("VC302", "no-config-json", "the model folder has no config.json", "point model.path at the checkpoint"),
    ("VC303", "model-folder-unreadable", "a file of the model folder cannot be read", "check the folder"),
    ("VC304", "lock-revision", "the lock file was made for another revision", "run `vllm-compile lock` again"),
    ("VC305", "lock-entry", "the lock entry for the model is incomplete", "run `vllm-compile lock` again"),
    ("VC306", "hf-cache-unreadable", "the model in the Hugging Face cache cannot be read", "re-download it"),
    ("VC307", "model-not-found", "no config.json found for the model id",
     "run `vllm-compile lock` once with network, or set model.path"),
    ("VC308", "lock-file-unreadable", "the lock file cannot be read or is not a vllm-compile lock",
     "delete it and run `vllm-compile lock` again"),
    ("VC309", "lock-fetch", "`lock` could not fetch the model's config", "check the id, network and token"),
    ("VC310", "unknown-gpu", "a GPU name the catalog does not know", "`vllm-compile gpus` lists the names"),
    ("VC311", "hardware-lock", "the lock file's hardware section is unusable", "re-run `vllm-compile lock`"),
    ("VC312", "no-nvml", "GPU detection needs NVML and it is not available",
     "declare the hardware (`gpu: L4`) or run on the GPU host"),
    ("VC313", "bad-device-id", "a device id that is neither an index nor a UUID", "copy it from `nvidia-smi -L`"),
    ("VC314", "device-twice", "a GPU listed twice in hardware.device_ids", "list each GPU once"),
    ("VC315", "count-vs-device-ids", "hardware.count disagrees with hardware.device_ids", "drop count"),
    ("VC316", "no-such-gpu", "a pinned GPU this host does not have", "use an id from `vllm-compile detect`"),
    ("VC317", "too-many-gpus", "more GPUs requested than the host has", "lower hardware.count"),
    ("VC318", "lock-two-revisions", "one model appears with two revisions in a spec", "use one revision"),
    ("VC319", "lock-config-unusable", "`lock` fetched a config the compiler cannot read",
     "state the architecture under model.facts"),
    ("VC320", "not-a-model", "`inspect` was given neither a model folder nor a repo id", "give ORG/NAME"),
    ("VC321", "lora-name-taken", "a LoRA adapter name already taken", "give each adapter its own name"),
    ("VC322", "lora-revision", "a revision on a LoRA adapter (--lora-modules takes none)", "drop the revision"),
    ("VC323", "lora-no-config", "no adapter_config.json in the adapter folder", "point path at the adapter"),
    ("VC324", "lora-not-cached", "a LoRA adapter not in the Hugging Face cache", "run `vllm-compile lock`"),
    ("VC325", "lora-unreadable", "a LoRA adapter's config cannot be read", "check the adapter"),
    ("VC326", "draft-not-found", "the draft model or EAGLE head that --speculative-config names cannot be resolved",
     "lock it, or name a folder holding its config.json"),
    ("VC330", "model-note", "a note from resolving the model (e.g. an unchecked revision)", "read the message"),
    ("VC331", "hardware-note", "a note from resolving the hardware", "read the message"),
    ("VC332", "detect-note", "a detected GPU mapped onto the catalog approximately", "check the mapping"),
    # VC4xx: planner verdicts
    ("VC401", "weights_do_not_fit", "the model's weights do not fit on the GPUs",
     "`vllm-compile fix`: more GPUs or tensor parallelism, a quantized checkpoint, a larger GPU"),
    ("VC402", "no_kv_memory", "no memory left for the KV cache at start-up",
     "`vllm-compile fix`: raise gpu_memory_utilization, more GPUs"),
    ("VC403", "kv_too_small", "the KV cache cannot hold one max_model_len request",
     "`vllm-compile fix`: a shorter workload.max_model_len, more GPUs"),
    ("VC404", "invalid", "vLLM would refuse this configuration (vLLM's reason is in the message)",
     "`vllm-compile fix`, or change the key named"),
    ("VC405", "goal_not_met", "vLLM starts but its KV cache holds fewer requests than workload.concurrency",
     "`vllm-compile fix`: lower concurrency or max_model_len, more GPUs, fp8 KV cache"),
    ("VC406", "host-overcommit", "the host's GPUs cannot hold every deployment",
     "more GPUs, hardware.share_gpus, or smaller deployments"),
    ("VC407", "mixed-gpu-parallelism", "tensor parallelism would span GPUs of different types",
     "a layout that fits one GPU type"),
    ("VC410", "plan-note", "a note from the planner (e.g. a clamped max_model_len)", "read the message"),
    ("VC411", "idle-gpus", "no deployment uses some of the host's GPUs", "lower hardware.count or add work"),
    ("VC420", "nodes-one-deployment", "a `deployments:` file with hardware.nodes > 1 (only a single deployment spans "
     "nodes)", "one spec per multi-node deployment"),
    ("VC421", "nodes-share-gpus", "share_gpus with hardware.nodes > 1", "drop share_gpus"),
    ("VC422", "nodes-device-ids", "device_ids with hardware.nodes > 1 (each node gives all its GPUs)",
     "drop device_ids; set hardware.count to one node's GPUs"),
    ("VC423", "node-addresses", "hardware.node_addresses does not list one address per node",
     "list every node, the head first, or drop it"),
    ("VC424", "nodes-one-gpu-type", "the nodes of a multi-node deployment hold different GPU types",
     "name one GPU type"),
    ("VC425", "lora-max-rank", "the release refuses this --max-lora-rank", "use one of the accepted ranks"),
    ("VC426", "lora-adapter-rank", "a LoRA adapter's rank the release cannot serve", "use an adapter of a served rank"),
    ("VC427", "lora-rank-below-adapter", "--max-lora-rank below an adapter's rank", "raise --max-lora-rank"),
    # VC5xx: engine flags
    ("VC501", "unknown-flag", "the pinned vLLM release has no such flag", "`vllm serve --help=all` lists them"),
    ("VC502", "abbreviated-flag", "an abbreviated flag name", "write the full flag name"),
    ("VC503", "help-flag", "a flag that prints help and exits", "remove it"),
    ("VC504", "switch-value", "a switch given a value", "write the switch alone"),
    ("VC505", "missing-value", "a flag without its value", "give the flag a value"),
    ("VC506", "invalid-flag-value", "a flag value of the wrong type", "give a valid value"),
    ("VC507", "invalid-choice", "a flag value outside the release's choices", "use one of the listed choices"),
    ("VC508", "unknown-table-value", "a value the release does not know for this flag", "use a listed value"),
    ("VC509", "unrecognized-argument", "a stray argument after the model", "remove it or give it its flag"),
    ("VC510", "no-model", "no model in the `vllm serve` command line", "vllm serve MODEL [FLAGS]"),
    ("VC511", "not-a-flag", "an item of engine.extra_args that is not a flag", "put values after their flag"),
    ("VC512", "owned-flag", "a flag vllm-compile sets itself from a spec key", "set the spec key instead"),
    ("VC513", "duplicate-emitted-flag", "a flag that duplicates one emitted from a spec key",
     "remove it and set the spec key"),
    ("VC514", "flag-twice", "a flag given twice in engine.extra_args", "keep one"),
    ("VC515", "no-command-line", "`predict` got no `vllm serve` command line", "append -- vllm serve MODEL"),
    ("VC516", "predict-unknown-gpu", "`predict --gpu` names a GPU the catalog does not know",
     "`vllm-compile gpus` lists the names"),
    ("VC517", "launch-flag", "a multi-node launch flag in engine.extra_args",
     "remove it: hardware.nodes and the output format decide the launch"),
    ("VC518", "predict-gpu-memory", "`predict --gpu-memory-gib` is not a finite memory size above 0",
     "give the GPU's total memory, e.g. 79.6"),
    ("VC519", "empty-revision", "`--revision` is empty", "give a revision or leave it out"),
    ("VC520", "release-manifest", "no flag manifest for the release: flags checked against the nearest",
     "pin a release with a manifest"),
    ("VC521", "pp-beyond-layers", "more pipeline stages than the model has layers", "lower the pipeline size"),
    ("VC522", "flag-out-of-range", "a flag value outside the range vLLM accepts", "give a value in range"),
    ("VC523", "batch-limits", "max_num_batched_tokens below max_num_seqs", "raise it or lower max_num_seqs"),
    ("VC524", "extra-arg-spec-key", "an engine.extra_args flag that a spec key sets", "set the spec key instead"),
    ("VC525", "not-a-release", "`predict --vllm-version` is not a vLLM release", "give one such as 0.33.0"),
    ("VC526", "text-mm-limit", "a `--limit-mm-per-prompt` count as text that the release does not read as a count",
     "write it as a JSON integer"),
    # VC6xx: lowering, emit and targets
    ("VC601", "no-rocm-image", "vLLM publishes no ROCm image for the release", "pin a newer release or engine.image"),
    ("VC602", "floating-image", "a `latest` image makes the deployment irreproducible", "pin a tag or digest"),
    ("VC603", "amd-uuid", "AMD GPUs are pinned by index, not UUID", "list the GPUs' indexes"),
    ("VC604", "too-few-pinned", "fewer GPUs pinned than the plan uses", "pin more GPUs or lower parallelism"),
    ("VC605", "kubernetes-sharing", "Kubernetes gives pods whole GPUs: no share_gpus", "drop share_gpus"),
    ("VC606", "kubernetes-name", "a Kubernetes Service name must start with a letter", "rename the deployment"),
    ("VC607", "kubernetes-local-model", "a local model folder cannot be mounted into a pod", "use model.id"),
    ("VC608", "unknown-format", "an output format that does not exist", "use one of the listed formats"),
    ("VC609", "no-format", "no output format selected", "e.g. --emit compose,docker-run"),
    ("VC610", "lower-note", "a note from lowering (e.g. more GPUs pinned than used)", "read the message"),
    ("VC611", "single-host-format", "a one-host output format with hardware.nodes > 1", "use lws and/or ray"),
    ("VC612", "multi-node-format", "lws or ray with hardware.nodes 1", "set hardware.nodes, or a one-host format"),
    ("VC613", "ray-local-model", "the ray target cannot serve a local model folder", "serve the model by its id"),
    ("VC614", "ray-launch", "the release cannot start this layout on Ray", "pin a newer engine.version or drop ray"),
    ("VC615", "lws-launch", "the release has no launch for this layout across nodes", "pin a newer engine.version"),
    ("VC616", "remote-local-adapter", "a local LoRA adapter folder with a Kubernetes or multi-node target",
     "serve the adapter by its Hugging Face id"),
    ("VC617", "bind-note", "a note from lowering about the address the server binds", "read the message"),
    # VC7xx: drift
    ("VC701", "artifact-missing", "a generated artifact is missing on disk", "run `vllm-compile compile`"),
    ("VC702", "artifact-differs", "an artifact on disk differs from what the spec generates",
     "run `vllm-compile compile` and commit the result"),
    ("VC703", "not-executable", "a script on disk lost its executable bit", "chmod +x, or recompile"),
    ("VC704", "lock-stale", "the lock file no longer matches the spec's model", "run `vllm-compile lock`"),
    ("VC705", "artifact-foreign", "an artifact's path holds what vllm-compile never writes (too large, not a "
     "regular file, a YAML alias or tag)", "remove it and run `vllm-compile compile`"),
    # VC8xx: fix
    ("VC801", "no-such-fix", "`fix --apply N` names a fix that is not offered", "list them with `vllm-compile fix`"),
    # VC9xx: internal and I/O
    ("VC901", "internal-error", "a bug in vllm-compile", "report it with the spec; VLLM_COMPILE_DEBUG=1 traces"),
    ("VC902", "cannot-write", "an output folder or file cannot be written", "choose a writable folder (-o DIR)"),
    ("VC903", "overwrites-input", "an artifact would replace a spec or lock file of the run",
     "choose an output folder that holds no spec"),
)

CODES: dict[str, CodeInfo] = {row[0]: CodeInfo(*row) for row in _ROWS}
# Codes retired or kept for a later use; none yet.
RESERVED: frozenset[str] = frozenset()


def all_codes() -> tuple[str, ...]:
    return get_args(Code)


def markdown_table() -> str:
    """The README's table: one row per code, a heading row per stage."""
    lines = ["| code | name | meaning | typical fix |", "|---|---|---|---|"]
    stage = ""
    for info in CODES.values():
        if info.code[2] != stage:
            stage = info.code[2]
            lines.append(f"| **VC{stage}xx** | | **{STAGES[stage]}** | |")
        lines.append(f"| `{info.code}` | {info.name} | {info.meaning} | {info.fix} |")
    return "\n".join(lines) + "\n"


START, END = "<!-- codes:start -->", "<!-- codes:end -->"


def readme_with_table(text: str) -> str:
    head, found, rest = text.partition(START)
    if not found or END not in rest:
        raise ValueError(f"the README has no {START} ... {END} section")
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{markdown_table()}{END}{tail}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--readme"] and len(argv) == 2:
        with open(argv[1], encoding="utf-8") as handle:
            text = handle.read()
        from vllm_compile.writer import write_atomic

        write_atomic(argv[1], readme_with_table(text).encode())
        return 0
    sys.stdout.write(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
