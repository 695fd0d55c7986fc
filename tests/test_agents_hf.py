"""The `hf` agent on a tiny randomly initialized Qwen2-VL built from a config and saved to a temporary directory."""

import json

import numpy as np
import pytest

from step_envs.agents import AgentAction, Turn, make_agent
from step_envs.tasks import Task

pytest.importorskip("transformers", reason="the hf agent needs the train extra (make install puts it there)")

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
            "<|video_pad|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_qwen2_vl(path):
    """A byte-level tokenizer, Qwen2-VL's image processor and a 2-layer, 32-wide random model: a few MB."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    backend = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                        additional_special_tokens=SPECIALS[1:])
    tokenizer.chat_template = CHAT_TEMPLATE
    ids = dict(zip(SPECIALS, tokenizer.convert_tokens_to_ids(SPECIALS), strict=True))
    config = Qwen2VLConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 8192,
                     "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2]},
                     "bos_token_id": ids["<|endoftext|>"], "eos_token_id": ids["<|im_end|>"],
                     "pad_token_id": ids["<|endoftext|>"]},
        vision_config={"depth": 1, "embed_dim": 32, "hidden_size": 32, "num_heads": 2, "mlp_ratio": 2},
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])
    torch.manual_seed(0)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config.eos_token_id = ids["<|im_end|>"]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    Qwen2VLImageProcessorPil(min_pixels=28 * 28 * 4, max_pixels=28 * 28 * 64).save_pretrained(path)
    # what a real Qwen2-VL directory says, so loading takes the same path as a downloaded checkpoint
    (path / "processor_config.json").write_text(json.dumps({"processor_class": "Qwen2VLProcessor"}))
    return path


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("tiny-qwen2-vl"))


def _turn(step=0, history=()):
    task = Task(id="t", instruction="Open the menu", evaluator={"func": "infeasible"})
    screenshot = np.random.default_rng(0).integers(0, 255, (72, 128, 3), dtype=np.uint8)
    return Turn(key=f"t#{step}", task=task, observation={"screenshot": screenshot, "instruction": task.instruction},
                step=step, history=list(history), screen_size=(128, 72))


def test_hf_agent_generates_from_a_local_model_and_keeps_tokens_and_logprobs(tiny_model):
    agent = make_agent("hf", model=str(tiny_model), options={"max_new_tokens": 12})
    turns = [_turn(), _turn(1, ["pyautogui.click(1, 2)"])]
    agent.reset(turns[0].task, turns[0].key)
    answers = agent.act(turns)
    assert len(answers) == 2
    for answer in answers:
        assert isinstance(answer, AgentAction)
        assert answer.raw is not None
        assert 0 < len(answer.token_ids) <= 12
        assert len(answer.logprobs) == len(answer.token_ids)
        assert all(lp <= 0.0 for lp in answer.logprobs)
        # a random model writes bytes, not actions: a no-op step with the reason, never an exception
        assert (answer.text, answer.parse_error is not None) == ("WAIT", True) or answer.parse_error is None
    assert agent.act(turns[:1])[0].token_ids == answers[0].token_ids  # greedy: the same answer again


def test_hf_agent_says_what_to_pass_without_a_model_directory(tmp_path):
    with pytest.raises(ValueError, match="local model directory"):
        make_agent("hf", model=str(tmp_path / "missing"))
