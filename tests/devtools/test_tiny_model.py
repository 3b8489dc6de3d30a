"""The tiny demo model recipe: deterministic, engine-compatible shapes, and a model that answers in words.

The recipe needs torch, which only the engine environment has, so every build runs as a subprocess
of the engine interpreter, the way `python -m devtools tiny-model` runs it.
"""

import hashlib
import json
import math
import os
import re
import resource
import subprocess
from pathlib import Path

import pytest

from devtools.tiny_model import CORPUS_DIR, main

REPO = Path(__file__).resolve().parents[2]
ENGINE_PYTHON = os.environ.get("ARENA_ENGINE_PYTHON", str(REPO / ".venv-engine/bin/python"))
BUILD = "import sys; from devtools.tiny_model import main; sys.exit(main(sys.argv[1:]))"

pytestmark = pytest.mark.skipif(
    not Path(ENGINE_PYTHON).exists(), reason=f"engine interpreter {ENGINE_PYTHON} not found"
)

GENERATE = """
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
out_dir = sys.argv[1]
tokenizer = AutoTokenizer.from_pretrained(out_dir)
model = AutoModelForCausalLM.from_pretrained(out_dir)
torch.manual_seed(0)
answers = []
for prompt in json.loads(sys.argv[2]):
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    new_tokens = model.generate(**inputs)[0, inputs["input_ids"].shape[1]:]
    answers.append({
        "text": tokenizer.decode(new_tokens, skip_special_tokens=True),
        "ended": new_tokens[-1].item() == tokenizer.eos_token_id,
    })
rendered = tokenizer.apply_chat_template(
    [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}],
    add_generation_prompt=True,
    tokenize=False,
)
print(json.dumps({"answers": answers, "rendered": rendered}))
"""


def _engine_env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def _build(out_dir: Path, *args: str) -> float:
    """Build a model; return the CPU seconds the build took.

    CPU time rather than wall time: the recipe runs on one thread, so on an idle machine they are
    the same, and CPU time does not grow when other jobs share the cores.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [ENGINE_PYTHON, "-c", BUILD, str(out_dir), *args],
        cwd=REPO,
        env=_engine_env(),
        check=True,
        capture_output=True,
        timeout=180,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def default_model(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("tiny") / "model"
    return out_dir, _build(out_dir)


@pytest.fixture(scope="module")
def short_builds(tmp_path_factory):
    """Quick builds (few training steps) that still go through tokenizer, init and training."""
    root = tmp_path_factory.mktemp("short")
    builds = {
        "seed0": ("--seed", "0"),
        "seed0_again": ("--seed", "0"),
        "seed1": ("--seed", "1"),
        "wide": ("--layers", "1", "--hidden-size", "192"),
    }
    for name, args in builds.items():
        _build(root / name, *args, "--train-steps", "8")
    return root


def test_it_builds_the_default_model_in_under_a_minute(default_model):
    out_dir, cpu_s = default_model
    assert cpu_s < 60
    for name in ["config.json", "generation_config.json", "model.safetensors", "tokenizer.json"]:
        assert (out_dir / name).is_file(), name


def test_it_uses_head_size_64_and_a_vocabulary_covering_the_tokenizer(default_model):
    out_dir, _ = default_model
    config = json.loads((out_dir / "config.json").read_text())
    tokenizer = json.loads((out_dir / "tokenizer.json").read_text())
    added = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    tokenizer_size = len(tokenizer["model"]["vocab"] | added)
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["head_dim"] == 64
    assert config["hidden_size"] == 128
    assert config["num_attention_heads"] * 64 == config["hidden_size"]
    assert config["num_attention_heads"] % config["num_key_value_heads"] == 0
    assert config["vocab_size"] >= tokenizer_size
    assert config["vocab_size"] % 64 == 0


def test_it_has_a_few_hundred_thousand_parameters(default_model):
    out_dir, _ = default_model
    header_size = int.from_bytes((out_dir / "model.safetensors").read_bytes()[:8], "little")
    header = json.loads((out_dir / "model.safetensors").read_bytes()[8 : 8 + header_size])
    count = sum(math.prod(tensor["shape"]) for name, tensor in header.items() if name != "__metadata__")
    assert 200_000 <= count <= 1_000_000


def test_it_sets_the_chat_special_tokens_and_generation_defaults(default_model):
    out_dir, _ = default_model
    config = json.loads((out_dir / "config.json").read_text())
    tokenizer_config = json.loads((out_dir / "tokenizer_config.json").read_text())
    generation = json.loads((out_dir / "generation_config.json").read_text())
    tokenizer = json.loads((out_dir / "tokenizer.json").read_text())
    added = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    assert {"<|system|>", "<|user|>", "<|assistant|>", "<|end|>", "<|pad|>"} <= added.keys()
    assert tokenizer_config["eos_token"] == "<|end|>"
    assert tokenizer_config["pad_token"] == "<|pad|>"
    assert config["eos_token_id"] == generation["eos_token_id"] == added["<|end|>"]
    assert generation["do_sample"] is True
    assert 0 < generation["max_new_tokens"] <= 256
    template = tokenizer_config.get("chat_template") or (out_dir / "chat_template.jinja").read_text()
    assert "add_generation_prompt" in template


def test_it_answers_in_words_and_stops_on_end(default_model):
    out_dir, _ = default_model
    prompts = ["How do I make bread?", "Comment économiser l'énergie ?", "Tell me about the moon.", "Bonjour !"]
    result = subprocess.run(
        [ENGINE_PYTHON, "-c", GENERATE, str(out_dir), json.dumps(prompts)],
        cwd=REPO,
        env=_engine_env(),
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["rendered"] == "<|system|>\nS<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n"
    answers = output["answers"]
    corpus_text = " ".join(path.read_text() for path in CORPUS_DIR.glob("*.txt"))
    corpus_words = {w.lower() for w in re.findall(r"\w+", corpus_text)}
    words = [w.lower() for answer in answers for w in re.findall(r"\w+", answer["text"])]
    assert len(words) >= 3 * len(answers)
    assert sum(w in corpus_words for w in words) / len(words) >= 0.5
    assert sum(answer["ended"] for answer in answers) >= len(answers) // 2
    assert all("<|" not in answer["text"] for answer in answers)


def test_it_is_deterministic_for_the_same_arguments(short_builds):
    first = short_builds / "seed0"
    again = short_builds / "seed0_again"
    assert _sha256(first / "model.safetensors") == _sha256(again / "model.safetensors")
    assert _sha256(first / "tokenizer.json") == _sha256(again / "tokenizer.json")


def test_it_gives_a_different_model_for_a_different_seed(short_builds):
    seed0 = short_builds / "seed0" / "model.safetensors"
    seed1 = short_builds / "seed1" / "model.safetensors"
    assert _sha256(seed0) != _sha256(seed1)


def test_it_follows_the_layers_and_hidden_size_options(short_builds):
    config = json.loads((short_builds / "wide" / "config.json").read_text())
    assert config["num_hidden_layers"] == 1
    assert config["hidden_size"] == 192
    assert config["num_attention_heads"] == 3
    assert config["head_dim"] == 64
    assert 3 % config["num_key_value_heads"] == 0


def test_it_rejects_a_hidden_size_that_is_not_a_multiple_of_64(tmp_path, capsys):
    # Runs in the web environment: validation happens before torch is imported.
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "model"), "--hidden-size", "100"])
    assert exit_info.value.code == 2
    assert "multiple of 64" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()
