"""The pointer head (`model.pointer_head`): the element of a `tag_N` is drawn from a distribution over the table's
rows, its log-prob is part of the reply's, recomputed exactly by the training pass, trained and checkpointed."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from tiny_vlm import build_tiny_qwen2vl

from step_envs.agents import make_agent
from step_train.config import SFTSettings, TrainConfig
from step_train.policy import LoraSettings, ModelSettings, SamplingSettings, VLMPolicy
from step_train.policy import vlm as vlm_module
from step_train.policy.pointer import HEAD_FILE
from step_train.sft import SFTTrainer

NS = ('xmlns:st="https://accessibility.ubuntu.example.org/ns/state" '
      'xmlns:cp="https://accessibility.ubuntu.example.org/ns/component"')
SHOWN = 'st:showing="true" st:visible="true"'
SCREEN = (1280, 720)
NAMES = ["Planet", "Harbor", "Maple", "Falcon", "Stone", "River", "Cloud", "Tiger", "Lemon", "Coral", "Amber", "Frost"]


def tree(count: int) -> str:
    buttons = "".join(f'<push-button name="{name}" {SHOWN} cp:screencoord="({40 + 90 * i}, 200)" cp:size="(80, 36)" />'
                      for i, name in enumerate(NAMES[:count]))
    return f'<desktop-frame {NS} name="main"><application name="widgets">{buttons}</application></desktop-frame>'


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-qwen2vl"))


def sampling(**kwargs) -> SamplingSettings:
    return SamplingSettings(observation="a11y", a11y_tags=True, max_new_tokens=16, max_pixels=56 * 56 * 4, **kwargs)


@pytest.fixture(scope="module")
def policy(model_dir: Path) -> VLMPolicy:
    return VLMPolicy(ModelSettings(path=str(model_dir), pointer_head=True, lora=LoraSettings(rank=4)), sampling())


IMAGE = Image.new("RGB", (112, 63))


def prompt(policy: VLMPolicy, count: int, response: list[int] | None = None):
    return policy.encode_step(f"Click {NAMES[count - 1]}", policy.observe(IMAGE), [], a11y_tree=tree(count),
                              response=response)


class Scripted:
    """In place of `SeededSampling`: writes `pyautogui.click(tag_`, lets the pointer head's forced digits through,
    then `)` and the end of turn: a random tiny model never writes a tag by itself."""

    def __init__(self, tokenizer, eos: int) -> None:
        self.before = tokenizer("pyautogui.click(tag_", add_special_tokens=False)["input_ids"]
        self.after = tokenizer(")", add_special_tokens=False)["input_ids"] + [eos]
        self.calls: dict[int, int] = {}
        self.forced: dict[int, int] = {}

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        for row in range(scores.shape[0]):
            k = self.calls.get(row, 0)
            self.calls[row] = k + 1
            finite = torch.isfinite(scores[row]).nonzero().flatten().tolist()
            if k >= len(self.before) and len(finite) == 1:  # a digit the head chose
                self.forced[row] = self.forced.get(row, 0) + 1
                token = finite[0]
            elif k < len(self.before):
                token = self.before[k]
            else:
                token = self.after[min(k - len(self.before) - self.forced.get(row, 0), len(self.after) - 1)]
            scores[row] = float("-inf")
            scores[row, token] = 0.0
        return scores


def generate_scripted(policy: VLMPolicy, encodings, seeds, monkeypatch):
    script = Scripted(policy.tokenizer, policy.eos_ids[0])
    monkeypatch.setattr(vlm_module, "SeededSampling", lambda *args: script)
    return policy.generate(encodings, seeds)


def test_the_head_finds_the_task_and_each_rows_cells_in_the_prompts_tokens(policy: VLMPolicy) -> None:
    encoded = prompt(policy, 3)
    table = policy._pointer_text.table(encoded.input_ids)
    text = [policy.tokenizer.decode(encoded.input_ids[start:end]) for start, end in table.rows]
    assert [row.split("\t")[:3] for row in text] == [["1", "push-button", "Planet"], ["2", "push-button", "Harbor"],
                                                     ["3", "push-button", "Maple"]]
    cells = [policy.tokenizer.decode(encoded.input_ids[start:end]).strip("\t") for start, end in table.cells]
    assert cells == ["Planet", "Harbor", "Maple"]
    assert policy.tokenizer.decode(encoded.input_ids[slice(*table.context)]).strip() == "Click Maple"
    assert policy._pointer_text.table(policy.tokenizer("no table here 1\tx")["input_ids"]) is None


def test_a_fresh_head_already_prefers_the_row_that_names_a_word_of_the_task(policy: VLMPolicy) -> None:
    for count in (3, 6, 12):
        encoded = prompt(policy, count)
        table = policy._pointer_text.table(encoded.input_ids)
        with torch.no_grad():
            from step_train.policy.pointer import final_states

            with final_states(policy._norm) as captured:
                policy.model(**policy._batch([encoded]), use_cache=False, logits_to_keep=1)
            states = captured[-1][0]
            scores = policy.pointer(states[-1], states, policy._embed(encoded.input_ids), table)
        assert int(scores.argmax()) == count - 1  # identities compared: "Maple" in the task, row "Maple"


def test_a_tags_number_is_the_heads_draw_and_the_training_pass_recomputes_its_logprob(policy, monkeypatch) -> None:
    encodings = [prompt(policy, 3 + k % 4) for k in range(12)]
    generations = generate_scripted(policy, encodings, list(range(12)), monkeypatch)
    numbers = []
    for encoded, generation in zip(encodings, generations, strict=True):
        found = re.fullmatch(r"pyautogui\.click\(tag_(\d+)\)", generation.text)
        assert found, generation.text
        numbers.append(int(found.group(1)))
        assert 1 <= numbers[-1] <= len(policy._pointer_text.table(encoded.input_ids).rows)
    assert len(set(numbers)) > 1  # drawn from the head's distribution, not a fixed row
    replies = [prompt(policy, 3 + k % 4, g.token_ids) for k, g in enumerate(generations)]
    with torch.no_grad():
        logprobs, mask = policy.response_logprobs(replies)
    for generation, row, m in zip(generations, logprobs, mask, strict=True):
        assert row[: int(m.sum())].tolist() == pytest.approx(generation.logprobs, abs=1e-4)
    digit = policy.tokenizer("pyautogui.click(tag_", add_special_tokens=False)["input_ids"].__len__()
    assert all(-2.5 < g.logprobs[digit] < 0 for g in generations)  # log 1/R for a fresh head, not the LM's ~log 1/V


def test_a_two_digit_tag_costs_the_heads_logprob_once_and_nothing_follows_it(policy, monkeypatch) -> None:
    monkeypatch.setattr(policy.pointer, "forward", lambda query, states, embeds, table: 3.0
                        * torch.arange(len(table.rows)).float() + 0.0 * query.sum())
    policy.greedy = True
    try:
        (generation,) = generate_scripted(policy, [prompt(policy, 12)], [0], monkeypatch)
    finally:
        policy.greedy = False
    assert generation.text == "pyautogui.click(tag_12)"
    digit = len(policy.tokenizer("pyautogui.click(tag_", add_special_tokens=False)["input_ids"])
    expected = torch.log_softmax(3.0 * torch.arange(12).float(), -1)[11].item()
    assert generation.logprobs[digit] == pytest.approx(expected, abs=1e-5) and generation.logprobs[digit + 1] == 0.0
    with torch.no_grad():
        logprobs, mask, entropy = policy.response_logprobs([prompt(policy, 12, generation.token_ids)], entropy=True)
    assert logprobs[0, : int(mask.sum())].tolist() == pytest.approx(generation.logprobs, abs=1e-4)
    assert entropy[0, digit + 1] == 0.0 and 0 < entropy[0, digit] < 1


def test_sft_trains_the_head_and_both_checkpoint_kinds_keep_it(model_dir: Path, tmp_path: Path) -> None:
    from test_sft import TASK_IDS, write_demos

    from step_envs.tasks.templates.widgets import widget_task

    x, y = (int(v) for v in re.search(r"\((\d+), (\d+)\)", widget_task(TASK_IDS[0]).solution[0]).groups())
    target = (f'<push-button name="Target" {SHOWN} cp:screencoord="({x - 60}, {y - 18})" cp:size="(120, 36)" />')
    demos = write_demos(tmp_path / "demos", tree(3).replace("</application>", target + "</application>"))
    for full in (False, True):
        config = TrainConfig(run_dir=str(tmp_path / f"run-{full}"), seed=1,
                             model=ModelSettings(path=str(model_dir), pointer_head=True, lora=LoraSettings(rank=4)),
                             sampling=sampling(), sft=SFTSettings(epochs=3, lr=1e-2, batch_size=2, micro_batch_size=2,
                                                                  checkpoint_every=100, full=full))
        trainer = SFTTrainer(config, demos)
        before = {k: v.clone() for k, v in trainer.policy.pointer.state_dict().items()}
        trainer.run()
        after = trainer.policy.pointer.state_dict()
        trainer.close()
        assert any(not torch.equal(before[k], after[k]) for k in before)
        checkpoint = max((tmp_path / f"run-{full}" / "checkpoints").glob("round-*"))
        weights = checkpoint / ("model" if full else "adapter")
        assert (weights / HEAD_FILE).is_file()
        model = dataclasses.replace(config.model, path=str(weights) if full else str(model_dir))
        again = VLMPolicy(model, sampling(), adapter_dir=None if full else weights)
        assert all(torch.equal(again.pointer.state_dict()[k], after[k]) for k in after)
        with pytest.raises(ValueError, match="trained with a pointer head"):
            make_agent("hf", model=str(weights if full else model_dir), adapter=None if full else str(checkpoint))


def test_the_head_needs_the_numbered_table(model_dir: Path) -> None:
    with pytest.raises(ValueError, match="model.pointer_head picks the rows of the numbered accessibility table"):
        VLMPolicy(ModelSettings(path=str(model_dir), pointer_head=True),
                  SamplingSettings(observation="a11y", max_pixels=56 * 56 * 4))


def test_augmentation_candidates_resolve_tags_against_the_prompts_table(model_dir: Path, tmp_path: Path,
                                                                        monkeypatch) -> None:
    """STEP's augmentation samples candidates at a buffered state: a `tag_N` reply is read with that state's table
    (it used to be parsed without it, so every tagged candidate was an unreadable WAIT and never agreed), and a
    candidate on the reference's element scores 1."""
    from step_envs.episodes import StepRecord
    from step_envs.tasks.templates.widgets import widget_task
    from step_train.algos import AugmentConfig, AugmentState, StepPrompt, score_candidates
    from step_train.config import EnvSettings
    from step_train.trainer import Trainer

    config = TrainConfig(run_dir=str(tmp_path / "run"), seed=3,
                         model=ModelSettings(path=str(model_dir), pointer_head=True, lora=LoraSettings(rank=4)),
                         sampling=sampling(), env=EnvSettings(max_steps=2), tensorboard=False)
    trainer = Trainer(config, tasks=[widget_task("widget-click-button/0")])
    record = StepRecord("WAIT", observation_ref="state")
    trainer.store.keep("k", 0, {"screenshot": IMAGE}, record)
    prompt_ = StepPrompt("Click Maple", record.observation_ref, (), tree(4))
    script = Scripted(trainer.policy.tokenizer, trainer.policy.eos_ids[0])
    monkeypatch.setattr(vlm_module, "SeededSampling", lambda *args: script)
    (group,) = trainer.candidates([prompt_], 4)
    trainer.close()
    assert all(c.action_error is None for c in group), [c.action_error for c in group]
    assert all(re.fullmatch(r"pyautogui\.click\(\d+, 218\)", c.action) for c in group), [c.action for c in group]
    # the reference clicked Maple (third button, 210-290) off its centre: same element agrees, a neighbour does not
    state = AugmentState("t", prompt_, "pyautogui.click(282, 210)")
    samples = score_candidates([state], [group], dataclasses.replace(AugmentConfig(), screen_size=SCREEN))
    agreed = {c.action for c in group if c.action == "pyautogui.click(250, 218)"}
    assert bool(samples) == (0 < len(agreed) < len(group))
    for sample in samples:
        assert (sample.advantage > 0) == (sample.action in agreed)
