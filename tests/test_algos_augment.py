"""Step-level GRPO augmentation for low-success tasks."""

import json
import random

import pytest

from step_envs.episodes import Episode, StepRecord
from step_train.algos import (
    AugmentConfig,
    AugmentState,
    StepPrompt,
    SuccessBuffer,
    SuccessRecord,
    augmentation_samples,
    score_candidates,
    select_states,
)


def click_episode(task_id: str, score: float, xs: list[int]) -> Episode:
    steps = [
        StepRecord(f"pyautogui.click({x}, 500)", observation_ref=f"{task_id}/{t}") for t, x in enumerate(xs)
    ]
    return Episode(task_id, instruction=task_id, steps=steps, score=score)


def candidates(*xs: int) -> list[StepRecord]:
    return [StepRecord(f"pyautogui.click({x}, 500)", logprobs=[-float(i)]) for i, x in enumerate(xs)]


def recorded(episodes: list[Episode]) -> SuccessRecord:
    record = SuccessRecord()
    record.update(episodes)
    return record


def test_states_come_from_this_rounds_successes_of_low_success_tasks():
    hard = [
        click_episode("hard", 1.0, [100, 300]),
        click_episode("hard", 0.0, [900]),
        click_episode("hard", 0.0, [900]),
    ]
    easy = [click_episode("easy", 1.0, [100]), click_episode("easy", 1.0, [100])]
    states = select_states(
        hard + easy, recorded(hard + easy), SuccessBuffer(), AugmentConfig(), random.Random(0)
    )
    assert sorted(s.reference for s in states) == ["pyautogui.click(100, 500)", "pyautogui.click(300, 500)"]
    assert {s.task_id for s in states} == {"hard"}
    second = next(s for s in states if s.reference.endswith("(300, 500)"))
    assert second.prompt == StepPrompt("hard", "hard/1", ("pyautogui.click(100, 500)",))


def test_at_most_m_states_per_task():
    episodes = [click_episode("t", 1.0, list(range(10)))] + [click_episode("t", 0.0, [1])] * 3
    config = AugmentConfig(max_states=4)
    assert len(select_states(episodes, recorded(episodes), SuccessBuffer(), config, random.Random(0))) == 4


def test_without_a_success_this_round_states_come_from_the_buffer():
    buffer = SuccessBuffer()
    buffer.add([click_episode("t", 1.0, [42])])
    this_round = [click_episode("t", 0.0, [7]), click_episode("t", 0.0, [7])]
    states = select_states(this_round, recorded(this_round), buffer, AugmentConfig(), random.Random(0))
    assert [s.reference for s in states] == ["pyautogui.click(42, 500)"]
    assert (
        select_states(this_round, recorded(this_round), SuccessBuffer(), AugmentConfig(), random.Random(0))
        == []
    )


def test_buffer_keeps_the_most_recent_successes_and_round_trips():
    buffer = SuccessBuffer(size=2)
    buffer.add([click_episode("t", 1.0, [x]) for x in (1, 2, 3)] + [click_episode("t", 0.0, [9])])
    buffer.add([Episode("t", steps=[StepRecord("x")], score=1.0, env_error="vm lost")])
    assert [e.steps[0].action for e in buffer.get("t")] == [
        "pyautogui.click(2, 500)",
        "pyautogui.click(3, 500)",
    ]
    restored = SuccessBuffer()
    restored.load_state_dict(json.loads(json.dumps(buffer.state_dict())))
    assert restored.state_dict() == buffer.state_dict()
    restored.add([click_episode("t", 1.0, [4])])
    assert len(restored.get("t")) == 2


def test_one_agreeing_candidate_of_four_gets_the_group_advantage():
    state = AugmentState("t", StepPrompt("t", "t/0"), "pyautogui.click(100, 500)")
    samples = score_candidates([state], [candidates(150, 900, 1500, 400)], AugmentConfig(weight=0.5))
    # rewards [1, 0, 0, 0]: mean 0.25, unbiased std 0.5
    assert [s.advantage for s in samples] == pytest.approx([0.75 / 0.500001] + [-0.25 / 0.500001] * 3)
    assert {(s.weight, s.source, s.task_id) for s in samples} == {(0.5, "augment", "t")}
    assert [s.old_logprobs for s in samples] == [(-0.0,), (-1.0,), (-2.0,), (-3.0,)]
    assert samples[0].prompt == state.prompt


def test_groups_without_contrast_are_dropped():
    state = AugmentState("t", StepPrompt("t", "t/0"), "pyautogui.click(100, 500)")
    groups = [candidates(100, 110, 120, 130), candidates(900, 900, 900, 900), candidates(100)]
    assert score_candidates([state] * 3, groups, AugmentConfig()) == []


def test_an_unparsable_candidate_never_agrees_even_with_a_wait_reference():
    state = AugmentState("t", StepPrompt("t", "t/0"), "WAIT")
    unparsable = StepRecord("WAIT", action_error="no action found in the reply", logprobs=[-1.0])
    waited = StepRecord("WAIT", logprobs=[-2.0])
    samples = score_candidates([state], [[unparsable, waited]], AugmentConfig())
    # rewards [0, 1]: the reply that ran as a WAIT because it could not be read is not the agreeing one
    assert [s.advantage for s in samples] == pytest.approx([-0.5 / 0.707108, 0.5 / 0.707108], rel=1e-5)
    assert score_candidates([state], [[unparsable, unparsable]], AugmentConfig()) == []


def test_an_unparsable_reference_step_is_never_an_augmentation_state():
    episode = click_episode("t", 1.0, [100, 200])
    episode.steps[0] = StepRecord("WAIT", observation_ref="t/0", action_error="no action found in the reply")
    record = recorded([Episode("t", steps=[StepRecord("DONE")], score=0.0)] * 3 + [episode])
    states = select_states([episode], record, SuccessBuffer(), AugmentConfig(max_states=4), random.Random(0))
    assert [s.reference for s in states] == ["pyautogui.click(200, 500)"]


def test_policy_must_answer_every_state():
    state = AugmentState("t", StepPrompt("t", "t/0"), "DONE")
    with pytest.raises(ValueError, match="1 states"):
        score_candidates([state], [], AugmentConfig())


def test_augmentation_round_calls_the_policy_once_and_fills_the_buffer():
    calls = []

    def policy(prompts, g):
        calls.append((list(prompts), g))
        return [candidates(100, 900, 900)[: g - 1] + candidates(100)[:1] for _ in prompts]

    episodes = [click_episode("t", 1.0, [100]), click_episode("t", 0.0, [5]), click_episode("t", 0.0, [5])]
    buffer = SuccessBuffer()
    samples = augmentation_samples(
        episodes, recorded(episodes), buffer, policy, AugmentConfig(group_size=3), random.Random(0)
    )
    assert len(calls) == 1 and calls[0][1] == 3 and calls[0][0] == [StepPrompt("t", "t/0")]
    assert [s.action for s in samples] == [
        "pyautogui.click(100, 500)",
        "pyautogui.click(900, 500)",
        "pyautogui.click(100, 500)",
    ]
    assert len(buffer.get("t")) == 1


def test_no_low_success_states_means_no_policy_call():
    episodes = [click_episode("t", 1.0, [100])]

    def policy(prompts, g):
        raise AssertionError("the policy must not be called")

    assert (
        augmentation_samples(
            episodes, recorded(episodes), SuccessBuffer(), policy, AugmentConfig(), random.Random(0)
        )
        == []
    )
