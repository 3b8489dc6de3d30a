"""Recipe for the tiny demo models: a chat-tuned Llama small enough to build in seconds on a laptop.

No weights can be downloaded here, yet the demo, the tests and the engines (`transformers serve`,
`vllm serve`) need real checkpoints. This module builds one from scratch, offline: a byte-level BPE
tokenizer trained on the original French/English text in `fixtures/tiny_corpus/`, a chat template,
and a `LlamaForCausalLM` with head size 64 (the size every attention backend accepts) trained for a
few seconds on chat-formatted samples of that text, so that it answers with words and stops on
`<|end|>`. Same arguments give a byte-identical `model.safetensors` on the same machine.

torch, transformers and tokenizers are imported inside functions: this module is also imported by
the web environment, which has none of them.

Usage: python -m devtools tiny-model OUT_DIR [--seed N] [--layers L] [--hidden-size H]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import time
from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "tiny_corpus"

HEAD_DIM = 64
PAD_TOKEN = "<|pad|>"
END_TOKEN = "<|end|>"
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
SPECIAL_TOKENS = [PAD_TOKEN, END_TOKEN, *ROLE_TOKENS.values()]
# An upper bound: the corpus runs out of pairs seen twice at about 1,500 tokens, which is what we want
# (most words become one token, so a few training steps already produce real words).
TOKENIZER_VOCAB_SIZE = 2048
MAX_POSITION_EMBEDDINGS = 2048

# One line per turn: `<|role|>\ncontent<|end|>\n`. Content may be a string or OpenAI-style parts.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] not in ['system', 'user', 'assistant'] -%}"
    "{{ raise_exception('Only system, user and assistant roles are supported') }}"
    "{%- endif -%}"
    "{{ '<|' + message['role'] + '|>\\n' }}"
    "{%- if message['content'] is string -%}{{ message['content'] }}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'text' -%}{{ part['text'] }}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{ '<|end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|assistant|>\\n' }}{%- endif -%}"
)

SYSTEM_PROMPTS = {
    "en": ["You are a helpful assistant.", "Answer briefly and clearly."],
    "fr": ["Tu es un assistant utile.", "Réponds brièvement et clairement."],
}

# Training schedule. A fixed number of steps (not a time budget) keeps the build deterministic.
DEFAULT_TRAIN_STEPS = 160
BATCH_SIZE = 16
MAX_SAMPLE_TOKENS = 160
LEARNING_RATE = 3e-3
WARMUP_STEPS = 10


def build_tiny_model(
    out_dir: Path,
    *,
    seed: int = 0,
    layers: int = 2,
    hidden_size: int = 128,
    train_steps: int = DEFAULT_TRAIN_STEPS,
    corpus_dir: Path = CORPUS_DIR,
) -> Path:
    """Build, train and save a tiny chat model into `out_dir`; return `out_dir`."""
    if hidden_size <= 0 or hidden_size % HEAD_DIM:
        raise ValueError(f"hidden_size must be a positive multiple of {HEAD_DIM}, got {hidden_size}")
    if layers <= 0:
        raise ValueError(f"layers must be positive, got {layers}")

    with _deterministic_torch(seed):
        return _build(
            Path(out_dir),
            seed=seed,
            layers=layers,
            hidden_size=hidden_size,
            train_steps=train_steps,
            corpus_dir=corpus_dir,
        )


def _build(out_dir: Path, *, seed: int, layers: int, hidden_size: int, train_steps: int, corpus_dir: Path) -> Path:
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    out_dir.mkdir(parents=True, exist_ok=True)
    paragraphs = read_corpus(corpus_dir)
    tokenizer = _train_tokenizer(paragraphs)
    end_id = tokenizer.convert_tokens_to_ids(END_TOKEN)
    pad_id = tokenizer.convert_tokens_to_ids(PAD_TOKEN)

    num_heads = hidden_size // HEAD_DIM
    config = LlamaConfig(
        vocab_size=_round_up(len(tokenizer), 64),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=num_heads,
        # Grouped-query attention where possible, as in the models the arena really serves.
        num_key_value_heads=num_heads // 2 if num_heads % 2 == 0 else num_heads,
        head_dim=HEAD_DIM,
        max_position_embeddings=MAX_POSITION_EMBEDDINGS,
        rms_norm_eps=1e-5,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=end_id,
        pad_token_id=pad_id,
        dtype="float32",
    )
    model = LlamaForCausalLM(config)
    samples = build_chat_samples(paragraphs, random.Random(seed))
    _train(model, tokenizer, samples, steps=train_steps, seed=seed, pad_id=pad_id)

    model.generation_config = GenerationConfig(
        do_sample=True,
        temperature=0.8,
        top_p=0.95,
        repetition_penalty=1.1,
        max_new_tokens=64,
        eos_token_id=end_id,
        pad_token_id=pad_id,
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    for path in out_dir.iterdir():
        # save_pretrained writes the weights 0600; engines may run as another user (containers).
        path.chmod(0o644)
    return out_dir


def read_corpus(corpus_dir: Path = CORPUS_DIR) -> list[tuple[str, list[str]]]:
    """Return (language, sentences) per paragraph; paragraphs are separated by blank lines."""
    paragraphs = []
    for path in sorted(Path(corpus_dir).glob("*.txt")):
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            sentences = [line.strip() for line in block.splitlines() if line.strip()]
            if sentences:
                paragraphs.append((path.stem, sentences))
    if not paragraphs:
        raise FileNotFoundError(f"no corpus text (*.txt) in {corpus_dir}")
    return paragraphs


def build_chat_samples(paragraphs: list[tuple[str, list[str]]], rng: random.Random) -> list[list[tuple[str, str]]]:
    """Conversations as lists of (role, content): a sentence asks, the next few sentences answer.

    Some samples get a system prompt or a second turn, as arena conversations do.
    """
    turns = []
    for language, sentences in paragraphs:
        for i, prompt in enumerate(sentences):
            following = sentences[i + 1 :] + sentences[:i]
            answer = " ".join(following[: rng.randint(1, 3)])
            turns.append((language, [("user", prompt), ("assistant", answer)]))
    samples = []
    for language, turn in turns:
        conversation = list(turn)
        if rng.random() < 0.25:
            conversation = [("system", rng.choice(SYSTEM_PROMPTS[language])), *conversation]
        if rng.random() < 0.25:
            conversation += rng.choice(turns)[1]
        samples.append(conversation)
    return samples


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devtools tiny-model",
        description="Build a tiny chat-tuned Llama model offline (demo and tests).",
    )
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--hidden-size", type=int, default=128, help=f"a multiple of {HEAD_DIM}")
    parser.add_argument("--train-steps", type=int, default=DEFAULT_TRAIN_STEPS)
    return parser


def main(argv: list[str]) -> int:
    parser = argument_parser()
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        out_dir = build_tiny_model(
            args.out_dir,
            seed=args.seed,
            layers=args.layers,
            hidden_size=args.hidden_size,
            train_steps=args.train_steps,
        )
    except ValueError as error:
        parser.error(str(error))
    print(f"tiny model written to {out_dir} in {time.monotonic() - started:.1f}s")
    return 0


@contextlib.contextmanager
def _deterministic_torch(seed: int):
    """Seed everything and pin torch to one thread, restoring the caller's settings afterwards."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers.utils import logging as transformers_logging

    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    progress_bar = transformers_logging.is_progress_bar_enabled()
    # One thread: results of CPU kernels can depend on how work is split between threads.
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers_logging.disable_progress_bar()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
        if progress_bar:
            transformers_logging.enable_progress_bar()


def _train_tokenizer(paragraphs: list[tuple[str, list[str]]]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB_SIZE,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator((sentence for _, sentences in paragraphs for sentence in sentences), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=END_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=list(ROLE_TOKENS.values()),
        chat_template=CHAT_TEMPLATE,
        model_max_length=MAX_POSITION_EMBEDDINGS,
        clean_up_tokenization_spaces=False,
    )


def _encode_conversation(tokenizer, conversation: list[tuple[str, str]]) -> tuple[list[int], list[int]]:
    """Token ids and labels; only the assistant's words and its `<|end|>` are learned."""
    input_ids: list[int] = []
    labels: list[int] = []
    for role, content in conversation:
        header = tokenizer.encode(f"{ROLE_TOKENS[role]}\n", add_special_tokens=False)
        body = tokenizer.encode(f"{content}{END_TOKEN}", add_special_tokens=False)
        newline = tokenizer.encode("\n", add_special_tokens=False)
        learned = role == "assistant"
        input_ids += header + body + newline
        labels += [-100] * len(header) + (body if learned else [-100] * len(body)) + [-100] * len(newline)
    return input_ids[:MAX_SAMPLE_TOKENS], labels[:MAX_SAMPLE_TOKENS]


def _train(model, tokenizer, samples, *, steps: int, seed: int, pad_id: int) -> None:
    import torch

    encoded = [_encode_conversation(tokenizer, conversation) for conversation in samples]
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LEARNING_RATE, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / WARMUP_STEPS) * max(0.05, 1 - step / max(steps, 1))
    )
    model.train()
    order: list[int] = []
    for _ in range(steps):
        if len(order) < BATCH_SIZE:
            order += torch.randperm(len(encoded), generator=generator).tolist()
        batch = [encoded[i] for i in order[:BATCH_SIZE]]
        del order[:BATCH_SIZE]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _ in batch])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in batch])
        attention_mask = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in batch])
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple
