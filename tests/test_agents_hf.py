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
    with pytest.raises(FileNotFoundError, match="expected a local directory with config.json"):
        make_agent("hf", model=str(tmp_path / "missing"))


@pytest.mark.parametrize(("missing", "named"), [("model.safetensors", "no weights"),
                                                 ("preprocessor_config.json", "preprocessor_config.json"),
                                                 ("tokenizer.json", "tokenizer.json")])
def test_a_checkpoint_without_weights_or_processor_names_the_missing_file(tiny_model, tmp_path, missing, named):
    import shutil

    copy = shutil.copytree(tiny_model, tmp_path / "copy")
    (copy / missing).unlink()
    if missing == "tokenizer.json":
        (copy / "tokenizer_config.json").unlink()
    with pytest.raises(FileNotFoundError, match=named):
        make_agent("hf", model=str(copy))


MAX_PIXELS = 56 * 56 * 4


@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    """The tiny trainer model and a step-train checkpoint of a qwen2vl run: a LoRA adapter and its state.json."""
    import torch
    from peft import LoraConfig, get_peft_model
    from tiny_vlm import build_tiny_qwen2vl
    from transformers import AutoModelForImageTextToText

    root = tmp_path_factory.mktemp("trained")
    model_dir = build_tiny_qwen2vl(root / "model")
    checkpoint = root / "run" / "checkpoints" / "round-000002"
    torch.manual_seed(0)
    peft_model = get_peft_model(AutoModelForImageTextToText.from_pretrained(model_dir),
                                LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"]))
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.5)  # a trained adapter changes the replies
    peft_model.save_pretrained(checkpoint / "adapter")
    config = {"model": {"dialect": "qwen2vl"}, "algo": {"history": 2}, "sampling": {"max_pixels": MAX_PIXELS}}
    (checkpoint / "state.json").write_text(json.dumps({"round": 2, "config": config}))
    return model_dir, checkpoint


def test_hf_agent_with_an_adapter_sends_the_trainers_prompt_and_dialect(trained_checkpoint):
    """`--adapter CKPT` takes the run's dialect, history and max_pixels, and the prompt tokens are exactly the
    ones the trainer's policy builds for the same turn."""
    from step_train.policy import LoraSettings, ModelSettings, SamplingSettings, VLMPolicy

    model_dir, checkpoint = trained_checkpoint
    agent = make_agent("hf", model=str(model_dir), adapter=str(checkpoint), options={"max_new_tokens": 4})
    assert (agent.dialect, agent.max_history, agent.max_pixels) == ("qwen2vl", 2, MAX_PIXELS)
    history = ["pyautogui.click(1, 2)", "pyautogui.click(64, 36)", "WAIT"]
    turn = _turn(3, history)
    inputs, _ = agent._inputs(turn)

    policy = VLMPolicy(ModelSettings(path=str(model_dir), dialect="qwen2vl", lora=LoraSettings(rank=2)),
                       SamplingSettings(max_pixels=MAX_PIXELS))
    image = policy.observe(turn.observation["screenshot"])
    encoded = policy.encode_step(turn.task.instruction, image, history[-2:], "pyautogui", turn.screen_size)
    assert inputs["input_ids"][0].tolist() == encoded.input_ids
    assert "1. pyautogui.click(500, 500)\n2. WAIT" in policy.tokenizer.decode(encoded.input_ids)  # grid points
    answer = agent.act([turn])[0]
    assert answer.token_ids and answer.raw is not None


def test_an_adapter_folder_without_adapter_config_is_refused(trained_checkpoint, tmp_path):
    with pytest.raises(FileNotFoundError, match="no LoRA adapter"):
        make_agent("hf", model=str(trained_checkpoint[0]), adapter=str(tmp_path))


@pytest.mark.desktop
def test_bench_scores_a_trained_checkpoint_with_its_adapter(trained_checkpoint, tmp_path):
    from step_envs.bench import ResultsDir
    from step_envs.cli.main import main

    model_dir, checkpoint = trained_checkpoint
    suite = tmp_path / "suite.txt"
    suite.write_text("widget-click-button/0\n")
    out = tmp_path / "bench"
    assert main(["bench", "--suite", str(suite), "--agent", "hf", "--model", str(model_dir), "--adapter",
                 str(checkpoint), "--agent-arg", "max_new_tokens=4", "--envs", "1", "--max-steps", "1",
                 "--out", str(out)]) == 0
    (row,) = ResultsDir.open(out).rows
    assert row["env_error"] is None and row["score"] == 0.0  # a tiny random policy is scored, not crashed


def test_hf_agent_ignores_the_checkpoints_sampling_defaults(tiny_model, tmp_path):
    """A checkpoint's repetition penalty / top-k never reach `generate`: greedy stays the model's argmax."""
    import shutil

    copy = shutil.copytree(tiny_model, tmp_path / "with-defaults")
    config = json.loads((copy / "generation_config.json").read_text())
    config.update(repetition_penalty=5.0, top_k=1, no_repeat_ngram_size=1, do_sample=True, temperature=0.01)
    (copy / "generation_config.json").write_text(json.dumps(config))
    plain = make_agent("hf", model=str(tiny_model), options={"max_new_tokens": 12})
    with_defaults = make_agent("hf", model=str(copy), options={"max_new_tokens": 12})
    assert with_defaults.model.generation_config.repetition_penalty in (None, 1.0)
    assert with_defaults.act([_turn()])[0].token_ids == plain.act([_turn()])[0].token_ids
