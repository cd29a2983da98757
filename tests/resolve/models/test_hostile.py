"""Broken or hostile configs give FactsError / CompileError naming the problem, never a traceback."""
from __future__ import annotations

import json

import pytest
from models_support import load

from vllm_compile.diagnostics import CompileError, SourceMap
from vllm_compile.ir.spec import ModelSpec
from vllm_compile.resolve.models import FactsError, facts_from_config, resolve_model

BASE = {"model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "vocab_size": 100, "max_position_embeddings": 512}


@pytest.mark.parametrize("change, key", [
    ({"num_hidden_layers": 10**12}, "num_hidden_layers"),
    ({"num_hidden_layers": 1e12}, "num_hidden_layers"),
    ({"hidden_size": "4096"}, "hidden_size"),
    ({"num_attention_heads": True}, "num_attention_heads"),
    ({"vocab_size": -1}, "vocab_size"),
    ({"num_hidden_layers": None}, "num_hidden_layers"),
    ({"num_key_value_heads": 3}, "num_key_value_heads"),
    ({"head_dim": 0}, "head_dim"),
    ({"torch_dtype": "int3"}, "torch_dtype"),
    ({"rope_scaling": {"rope_type": "yarn", "factor": "big"}}, "rope_scaling.factor"),
    ({"max_position_embeddings": 10**15}, "max_position_embeddings"),
    ({"layer_types": ["full_attention"]}, "layer_types"),
    ({"quantization_config": {"quant_method": "fp8", "weight_block_size": [128]}},
     "quantization_config.weight_block_size"),
    ({"tie_word_embeddings": "yes"}, "tie_word_embeddings"),
])
def test_bad_values_name_the_key(change, key):
    with pytest.raises(FactsError) as err:
        facts_from_config(BASE | change, model_id="x/y", source="t")
    assert err.value.key == key


def test_unknown_model_type_names_it_and_the_missing_keys():
    with pytest.raises(FactsError) as err:
        facts_from_config({"model_type": "mystery", "hidden_size": 8}, model_id="x/y", source="t")
    message = err.value.message
    assert "mystery" in message and "num_hidden_layers" in message and "vocab_size" in message
    assert "hidden_size" not in message.split("lacks")[1]
    assert "model.facts" in err.value.fix


def test_unknown_model_type_with_standard_keys_is_generic_with_a_warning():
    f = facts_from_config(BASE | {"model_type": "mystery"}, model_id="x/y", source="t")
    assert f.num_layers == 2 and any("mystery" in w for w in f.warnings)


def test_config_not_an_object():
    with pytest.raises(FactsError):
        facts_from_config([1, 2], model_id="x/y", source="t")


@pytest.mark.parametrize("content", [b"{not json", b"\xff\xfe\x00", b"[]", b'{"model_type": 7}',
                                     json.dumps({"model_type": "llama", "num_hidden_layers": 1e12}).encode()])
def test_local_folder_with_broken_config_is_a_compile_error(tmp_path, content):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_bytes(content)
    with pytest.raises(CompileError) as err:
        resolve_model(ModelSpec(path="m"), spec_dir=str(tmp_path), source=SourceMap("s.yaml", {"model.path": (3, 3)}),
                      key_prefix="")
    d = err.value.diagnostics[0]
    assert d.key == "model.path" and d.line == 3


def test_missing_folder_and_truncated_safetensors(tmp_path):
    src = SourceMap("s.yaml")
    with pytest.raises(CompileError):
        resolve_model(ModelSpec(path="nowhere"), spec_dir=str(tmp_path), source=src, key_prefix="")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps(BASE))
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\xff" * 8 + b"{}")
    with pytest.raises(CompileError) as err:
        resolve_model(ModelSpec(path="m"), spec_dir=str(tmp_path), source=src, key_prefix="deployments[1].")
    assert err.value.diagnostics[0].key == "deployments[1].model.path"


@pytest.mark.parametrize("rope, expected", [
    ({"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}, 131072),
    ({"type": "dynamic", "factor": 2.0}, 1024),
    ({"rope_type": "linear", "factor": 4}, 2048),
    ({"rope_type": "llama3", "factor": 8.0}, 512),
    ({"rope_type": "longrope", "factor": 8.0}, 512),
    ({"rope_type": "default"}, 512),
])
def test_max_model_len_follows_vllm_rope_rules(rope, expected):
    f = facts_from_config(BASE | {"rope_scaling": rope}, model_id="x/y", source="t")
    assert f.max_position_embeddings == expected


def test_max_model_len_takes_the_smallest_length_key_and_defaults_to_2048():
    cfg = {k: v for k, v in BASE.items() if k != "max_position_embeddings"}
    assert facts_from_config(cfg, model_id="x/y", source="t").max_position_embeddings == 2048
    assert facts_from_config(cfg | {"n_positions": 900, "max_seq_len": 700}, model_id="x/y",
                             source="t").max_position_embeddings == 700


def test_multimodal_text_config_is_read():
    wrapped = {"model_type": "mistral3", "architectures": ["Mistral3ForConditionalGeneration"],
               "text_config": load("mistralai/Mistral-7B-Instruct-v0.3"), "vision_config": {"hidden_size": 1024}}
    f = facts_from_config(wrapped, model_id="x/y", source="t")
    assert f.multimodal and f.model_type == "mistral" and f.num_layers == 32
