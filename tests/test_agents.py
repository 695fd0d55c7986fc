"""The built-in agents: solution, random, the registry, and the openai agent against a chat-completions stub
served over loopback."""

import base64
import io
import json
import threading

import numpy as np
import pytest
from flask import Flask, jsonify, request
from PIL import Image
from werkzeug.serving import make_server

from step_envs.actions import PARSERS
from step_envs.agents import AGENTS, Turn, make_agent
from step_envs.agents.openai_agent import AgentError
from step_envs.tasks import Task

SCREEN = (320, 200)


def _task(solution=(), infeasible=False, task_id="t1"):
    evaluator = {"func": "infeasible"} if infeasible else {"func": "exact_match", "result": {"type": "vm_file",
                 "path": "/tmp/x"}, "expected": {"type": "rule", "rules": {"expected": "x"}}}
    return Task(id=task_id, instruction="Save the file", evaluator=evaluator, solution=list(solution))


def _turn(task, step=0, key="k", history=(), action_space="pyautogui"):
    screenshot = np.full((SCREEN[1], SCREEN[0], 3), 200, np.uint8)
    return Turn(key=key, task=task, observation={"screenshot": screenshot, "instruction": task.instruction},
                step=step, history=list(history), action_space=action_space, screen_size=SCREEN)


def test_solution_agent_replays_the_solution_then_says_done():
    task = _task(["pyautogui.hotkey('ctrl', 's')", {"action_type": "TYPING", "text": "x"}])
    agent = make_agent("solution")
    agent.reset(task, "k")
    answers = [agent.act([_turn(task, step)])[0] for step in range(3)]
    assert answers == ["pyautogui.hotkey('ctrl', 's')", '{"action_type": "TYPING", "text": "x"}', "DONE"]
    agent.end("k")
    assert make_agent("solution").act([_turn(_task(infeasible=True))]) == ["FAIL"]


def test_noop_says_done_at_once_and_replay_plays_your_actions_then_done(tmp_path):
    task = _task(["pyautogui.press('enter')"])
    assert make_agent("noop").act([_turn(task)]) == ["DONE"]
    assert make_agent("noop", {"answer": "FAIL"}).act([_turn(task)]) == ["FAIL"]
    with pytest.raises(ValueError, match="DONE or FAIL"):
        make_agent("noop", {"answer": "WAIT"})
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps(["pyautogui.press('tab')", {"action_type": "PRESS", "key": "enter"}]))
    replay = make_agent("replay", {"file": str(mine)})
    assert [replay.act([_turn(task, step)])[0] for step in range(3)] == [
        "pyautogui.press('tab')", '{"action_type": "PRESS", "key": "enter"}', "DONE"]
    assert make_agent("replay", {"actions": ["WAIT"]}).act([_turn(task, 0), _turn(task, 1)]) == ["WAIT", "DONE"]
    with pytest.raises(ValueError, match="one of them"):
        make_agent("replay")
    mine.write_text("{not json")
    with pytest.raises(ValueError, match=f"cannot read the actions in {mine}"):
        make_agent("replay", {"file": str(mine)})


@pytest.mark.parametrize("action_space", sorted(PARSERS))
def test_random_agent_acts_validly_inside_the_screen(action_space):
    agent = make_agent("random", seed=3, options={"p_done": 0.05})
    task = _task()
    agent.reset(task, "k")
    actions = [agent.act([_turn(task, step, action_space=action_space)])[0] for step in range(200)]
    for action in actions:
        assert PARSERS[action_space](action, *SCREEN).error is None, action
    assert len(set(actions)) > 50  # it explores
    assert "DONE" in actions


def test_random_agent_is_reproducible_per_task_whatever_the_batching():
    task_a, task_b = _task(task_id="a"), _task(task_id="b")

    def run(batched):
        agent = make_agent("random", seed=1)
        agent.reset(task_a, "ka")
        agent.reset(task_b, "kb")
        if batched:
            return [agent.act([_turn(task_a, s, "ka"), _turn(task_b, s, "kb")]) for s in range(5)]
        return [[agent.act([_turn(task_a, s, "ka")])[0], agent.act([_turn(task_b, s, "kb")])[0]] for s in range(5)]

    assert run(True) == run(False)
    with pytest.raises(ValueError, match="p_done"):
        make_agent("random", options={"p_done": 2})


def test_registry_knows_the_built_in_agents_and_module_class():
    assert set(AGENTS) == {"solution", "noop", "replay", "random", "random-widget", "openai", "hf"}
    agent = make_agent("step_envs.agents.simple:RandomAgent", seed=5, model="ignored")
    assert agent.name == "random" and agent.seed == 5
    with pytest.raises(ValueError, match="unknown agent 'nope'"):
        make_agent("nope")
    with pytest.raises(ValueError, match="takes no 'temprature'"):
        make_agent("random", options={"temprature": 1})
    with pytest.raises(ValueError, match="has no 'Missing'"):
        make_agent("step_envs.agents.simple:Missing")


# --- openai: a chat-completions stub on 127.0.0.1 --------------------------------------------------------------


class Stub:
    """Speaks POST /v1/chat/completions; checks each request and answers from a script of replies/statuses."""

    def __init__(self):
        self.requests, self.script, self.lock = [], [], threading.Lock()
        self.by_task = {}  # instruction -> reply, for concurrent requests whose order is not fixed
        app = Flask("stub")
        app.add_url_rule("/v1/chat/completions", "chat", self.chat, methods=["POST"])
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def chat(self):
        body = request.get_json()
        with self.lock:
            self.requests.append({"body": body, "auth": request.headers.get("Authorization")})
            text = body["messages"][1]["content"][0]["text"]
            replies = [reply for instruction, reply in self.by_task.items() if instruction in text]
            status, reply = (200, replies[0]) if replies else self.script.pop(0) if self.script else (200, "DONE")
        if status != 200:
            return jsonify({"error": {"message": "try later"}}), status
        return jsonify({"id": "x", "object": "chat.completion", "model": body["model"],
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": reply},
                                     "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})


@pytest.fixture
def stub():
    server = Stub()
    yield server
    server.server.shutdown()


def _image_of(message):
    (url,) = [part["image_url"]["url"] for part in message["content"] if part["type"] == "image_url"]
    assert url.startswith("data:image/png;base64,")
    text = "\n".join(part["text"] for part in message["content"] if part["type"] == "text")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))), text


def test_openai_agent_sends_instruction_screenshot_and_history_and_parses_the_reply(stub, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", stub.url)
    monkeypatch.setenv("OPENAI_MODEL", "tiny-vl")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local")
    stub.by_task = {"Save the file": "I will click Save.\n```python\npyautogui.click(10, 20)\n```",
                    "Type hi": '{"action_type": "TYPING", "text": "hi"}'}
    agent = make_agent("openai")
    save, type_hi = _task(), Task(id="t2", instruction="Type hi", evaluator={"func": "infeasible"})
    answers = agent.act([_turn(save, 2, "a", ["pyautogui.hotkey('ctrl', 'o')", "WAIT"]),
                         _turn(type_hi, 0, "b", action_space="computer_13")])
    assert [a.text for a in answers] == ["pyautogui.click(10, 20)", '{"action_type": "TYPING", "text": "hi"}']
    assert all(a.parse_error is None and a.raw and a.info["usage"]["total_tokens"] == 15 for a in answers)
    assert len(stub.requests) == 2
    for sent in stub.requests:
        assert sent["auth"] == "Bearer sk-local"
        assert sent["body"]["model"] == "tiny-vl"
        system, user = sent["body"]["messages"]
        assert system["role"] == "system" and "DONE" in system["content"]
        image, _ = _image_of(user)
        assert image.size == SCREEN
    texts = {_image_of(s["body"]["messages"][1])[1].splitlines()[0]: _image_of(s["body"]["messages"][1])[1]
             for s in stub.requests}
    assert "1. pyautogui.hotkey('ctrl', 'o')\n2. WAIT" in texts["Task: Save the file"]
    assert "Previous actions: none." in texts["Task: Type hi"]


def test_openai_agent_parses_for_the_turns_action_space(stub):
    stub.script = [(200, "```python\npyautogui.click(10, 20)\n```")]
    agent = make_agent("openai", model="m", base_url=stub.url)
    (answer,) = agent.act([_turn(_task(), action_space="computer_13")])
    assert json.loads(answer.text) == {"action_type": "CLICK", "x": 10, "y": 20, "button": "left", "num_clicks": 1}


def test_openai_agent_scales_qwen2vl_grid_points(stub):
    stub.script = [(200, "pyautogui.click(500, 500)")]
    agent = make_agent("openai", model="m", base_url=stub.url, dialect="qwen2vl")
    assert agent.act([_turn(_task())])[0].text == "pyautogui.click(160, 100)"
    assert "0-1000" in stub.requests[0]["body"]["messages"][0]["content"]


def test_openai_agent_with_tags_clicks_the_named_elements_centre(stub):
    tree = ('<desktop-frame xmlns:st="https://accessibility.ubuntu.example.org/ns/state" '
            'xmlns:cp="https://accessibility.ubuntu.example.org/ns/component">'
            '<push-button name="Save" st:showing="true" st:visible="true" cp:screencoord="(100, 50)" '
            'cp:size="(40, 20)" /></desktop-frame>')
    stub.script = [(200, "pyautogui.click(tag_1)"), (200, "pyautogui.click(tag_4)")]
    agent = make_agent("openai", model="m", base_url=stub.url, observation="screenshot+a11y", a11y_tags=True)
    turn = _turn(_task())
    turn.observation["a11y_tree"] = tree
    assert agent.act([turn])[0].text == "pyautogui.click(120, 60)"
    text = "\n".join(part.get("text", "") for part in stub.requests[0]["body"]["messages"][1]["content"])
    assert "1\tpush-button\tSave" in text and "tag_N" in text
    (bad,) = agent.act([turn])
    assert bad.text == "WAIT" and bad.parse_error == "tag_4 is not in the table (tags 1-1)"
    assert bad.raw == "pyautogui.click(tag_4)"


def test_openai_agent_turns_garbage_into_a_parse_error(stub):
    stub.script = [(200, "I am not sure what to do.")]
    (answer,) = make_agent("openai", model="m", base_url=stub.url).act([_turn(_task())])
    assert answer.text == "WAIT" and "no action found" in answer.parse_error
    assert answer.raw == "I am not sure what to do."


def test_openai_agent_retries_busy_servers_and_stops_on_refusal(stub):
    stub.script = [(503, ""), (429, ""), (200, "DONE")]
    agent = make_agent("openai", model="m", base_url=stub.url, options={"max_retries": 3})
    assert agent.act([_turn(_task())])[0].text == "DONE"
    assert len(stub.requests) == 3
    stub.script = [(401, "")]
    with pytest.raises(AgentError, match="answered 401"):
        agent.act([_turn(_task())])


def test_openai_agent_says_what_is_missing(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_MODEL", raising=False)
    with pytest.raises(ValueError, match="OPENAI_BASE_URL"):
        make_agent("openai", model="m")
    with pytest.raises(ValueError, match="OPENAI_MODEL"):
        make_agent("openai", base_url="http://127.0.0.1:9/v1")
    agent = make_agent("openai", model="m", base_url="http://127.0.0.1:9/v1", options={"max_retries": 0})
    with pytest.raises(AgentError, match="cannot reach"):
        agent.act([_turn(_task())])
