"""Loading OSWorld's own task files: every file loads, runnable ones as Tasks, the others with the reasons why."""

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import openpyxl
import pytest

from step_envs.cli.main import main
from step_envs.core import ResetError
from step_envs.desktop.env import DesktopEnv
from step_envs.tasks import OSWorldTask, Reason, TaskError, load_osworld
from step_envs.tasks.osworld import CHROME_READY, CODE_READY

EXAMPLES = Path(__file__).parent / "data" / "osworld" / "examples"
CALC = "6e99a1ad-07d2-4b66-a1ce-ece6d99c20a5"


def by_id(loaded: list[OSWorldTask]) -> dict[str, OSWorldTask]:
    return {item.id: item for item in loaded}


@pytest.fixture(scope="module")
def loaded() -> dict[str, OSWorldTask]:
    return by_id(load_osworld(EXAMPLES))


def test_every_task_file_loads_and_index_files_are_skipped(loaded):
    assert len(loaded) == 13  # test_all.json (domain -> ids) is not a task
    assert {item.domain for item in loaded.values()} == {
        "os", "libreoffice_calc", "libreoffice_writer", "libreoffice_impress", "chrome", "vs_code", "multi_apps",
        "gimp"}
    assert all(item.supported == (item.task is not None) == (not item.unsupported) for item in loaded.values())


def test_local_tasks_load_as_tasks_with_osworld_home_moved_to_the_env_home(loaded):
    assert {i for i, item in loaded.items() if item.supported and not item.network} == {
        "94d95f96-9699-4208-98ba-3c3119edf9c2", "3b27600c-3668-4abd-8f84-7bcdebbccbdb",
        "0ed39f63-6049-43d4-ba4d-5fa2fe04a951", "7a4deb26-d57d-4ea9-9a73-630f66a7b568",
        "5812b315-e7bd-4265-b51f-863c02174c28"}
    folder = loaded["3b27600c-3668-4abd-8f84-7bcdebbccbdb"].task
    assert folder.domain == "os" and folder.config[0]["parameters"]["command"] == ["rm", "-rf", "~/reports_2024"]
    assert folder.evaluator["result"]["command"].startswith("[ -f $HOME/reports_2024/summary.txt ]")
    vscode = loaded["0ed39f63-6049-43d4-ba4d-5fa2fe04a951"].task
    assert vscode.evaluator["result"]["path"] == "~/.config/Code/User/settings.json"
    assert vscode.config[0]["ready"] == CODE_READY  # VS Code's launch waits until its workbench has loaded
    assert loaded["7a4deb26-d57d-4ea9-9a73-630f66a7b568"].task.infeasible


def test_the_file_on_disk_is_left_as_written(loaded):
    item = loaded["3b27600c-3668-4abd-8f84-7bcdebbccbdb"]
    assert item.data == json.loads(item.path.read_text())
    assert item.data["config"][0]["parameters"]["command"] == ["rm", "-rf", "/home/user/reports_2024"]


def test_downloads_and_web_pages_load_as_tasks_that_say_they_need_the_network(loaded):
    calc = loaded[CALC]
    assert calc.supported and not calc.unsupported
    assert [(r.kind, r.name) for r in calc.network] == [("network", "download"), ("network", "cloud_file")]
    assert "setup step 0 reaches https://" in calc.network[0].detail
    assert calc.task.config[0]["parameters"]["files"][0]["url"].startswith("https://")
    drive = {(r.kind, r.name) for r in loaded["897e3b53-5d4d-444b-85cb-2cdc8a97d903"].unsupported}
    assert {("account", "googledrive"), ("account", "login"), ("getter", "googledrive_file")} <= drive
    assert ("metric", "compare_pdfs") not in drive  # implemented: only the accounts stop this task
    chrome = loaded["bb5e4c0d-f964-439c-97b6-bdb9747de3f4"]
    assert chrome.supported, chrome.unsupported
    assert any(r.kind == "network" and r.name == "chrome_open_tabs" for r in chrome.network)


def test_socat_launches_wait_for_no_window_and_the_proxy_is_noted(tmp_path):
    task = {"id": "t", "instruction": "x", "proxy": True, "config": [
        {"type": "launch", "parameters": {"command": ["google-chrome", "--remote-debugging-port=1337"]}},
        {"type": "launch", "parameters": {"command": ["socat", "tcp-listen:9222,fork", "tcp:localhost:1337"]}},
        {"type": "proxy", "parameters": {}}],
        "evaluator": {"func": "exact_match", "result": {"type": "vm_command_line", "command": "true"},
                      "expected": {"type": "rule", "rules": {"expected": ""}}}}
    (tmp_path / "chrome").mkdir()
    (tmp_path / "chrome" / "t.json").write_text(json.dumps(task))
    item = load_osworld(tmp_path)[0]
    assert item.supported and item.task.config[1]["ready"] == {}
    assert item.task.config[0]["ready"] == CHROME_READY  # Chrome's launch waits until it has drawn its page
    assert {(r.kind, r.name) for r in item.network} == {("network", "proxy")}
    assert "direct" in item.task.params["proxy"]


def test_pkill_and_killall_launches_end_the_program_and_wait_for_it_instead_of_for_a_window(tmp_path):
    from step_envs.tasks.osworld import end_program

    task = {"id": "t", "instruction": "x", "config": [{"type": "launch", "parameters": {"command": "vlc"}}],
            "evaluator": {"postconfig": [{"type": "launch", "parameters": {"command": ["pkill", "vlc"]}},
                                         {"type": "launch", "parameters": {"command": "killall vlc"}},
                                         {"type": "launch", "parameters": {"command": ["pkill", "-9", "vlc"]}},
                                         {"type": "launch", "parameters": {"command": "vlc"}}],
                          "func": "check_qt_bgcone", "expected": {"type": "rule", "rules": {"expected_qt_bgcone": 0}},
                          "result": {"type": "vlc_config", "dest": "vlcrc"}}}
    (tmp_path / "vlc").mkdir()
    (tmp_path / "vlc" / "t.json").write_text(json.dumps(task))
    item = load_osworld(tmp_path)[0]
    assert item.supported, item.unsupported
    postconfig = item.task.evaluator["postconfig"]
    assert postconfig[:2] == [{"type": "execute", "parameters": {"command": end_program(words), "shell": True}}
                              for words in (["pkill", "vlc"], ["killall", "vlc"])]
    assert postconfig[2:] == task["evaluator"]["postconfig"][2:]  # with options, or not a kill: as written
    assert item.task.config == task["config"]
    # the command ends the process and returns once it has exited, its zombie (not reaped yet) aside
    program = tmp_path / "stepgym-victim"
    shutil.copy(shutil.which("sleep"), program)
    for words in (["pkill", "stepgym-vic"], ["killall", "stepgym-victim"]):
        victim = subprocess.Popen([str(program), "60"])
        try:
            time.sleep(0.2)
            done = subprocess.run(["bash", "-c", end_program(words)], timeout=20)
            assert done.returncode == 0 and victim.wait(timeout=5) == -signal.SIGTERM, words
        finally:
            victim.kill()
            victim.wait()


def test_killall_gnome_terminal_server_in_bash_ends_the_terminals_that_stand_in_for_it():
    """OSWorld's postconfig ``["/bin/bash", "-c", "killall gnome-terminal-server"]`` (multi_apps 2b9493d7) ends the
    terminals, so that their shells write ~/.bash_history; here the terminals are xfce4-terminal's."""
    from step_envs.tasks.osworld import end_program

    assert end_program(["/bin/bash", "-c", "killall gnome-terminal-server"]) == end_program(
        ["killall", "xfce4-terminal"])
    assert "-- xfce4-terminal;" in end_program(["killall", "xfce4-terminal"])
    assert end_program(["/bin/bash", "-c", "ls; killall gnome-terminal-server"]) is None


def test_unsupported_options_and_bad_json_are_reported(loaded, tmp_path):
    task = {"id": "t", "instruction": "x", "config": [], "evaluator": {
        "func": "compare_table", "result": {"type": "vm_file", "path": "/home/user/a.xlsx", "dest": "a.xlsx"},
        "options": {"rules": [{"type": "chart", "sheet_idx0": 0, "sheet_idx1": "EI0", "chart_props": ["type"]},
                              {"type": "sparkline", "sheet_idx0": 0, "sheet_idx1": "EI0"}]}}}
    (tmp_path / "libreoffice_calc").mkdir()
    (tmp_path / "libreoffice_calc" / "t.json").write_text(json.dumps(task))
    assert load_osworld(tmp_path)[0].unsupported == [
        Reason("option", "compare_table", "table rule 'sparkline' is not supported")]
    broken = loaded["broken-task"]
    assert broken.task is None and broken.unsupported[0].kind == "format"


def test_sudo_and_code_naming_osworld_home_load_as_tasks_that_need_the_docker_provider(loaded):
    ssh = loaded["5812b315-e7bd-4265-b51f-863c02174c28"]
    assert ssh.supported and not ssh.unsupported
    assert [str(r) for r in ssh.docker] == [
        "docker sudo: setup step 0 runs sudo, which only a container started with sudo=True allows",
        "docker /home/user: postconfig step 0: \"import os; open('/home/user/ssh_check.txt', 'w').write(os.popen('id "
        "charles').re\" names OSWorld's home inside code"]
    assert ssh.task.params["sudo"] == [ssh.docker[0].detail] and ssh.task.params["home"] == [ssh.docker[1].detail]
    # the Python code keeps OSWorld's path (the container's home); the shell command that reads it moves
    assert "'/home/user/ssh_check.txt'" in ssh.task.evaluator["postconfig"][0]["parameters"]["command"][2]
    assert ssh.task.evaluator["result"]["command"] == "cat $HOME/ssh_check.txt"


def test_osworld_home_in_shell_code_becomes_home_even_inside_quotes(tmp_path):
    code = "cd /home/user && zip -qr a.zip '/home/user/my dir' \"/home/user/b\" && python3 -c \"open('/home/user/c')\""
    task = {"id": "t", "instruction": "x", "config": [
        {"type": "execute", "parameters": {"command": ["/bin/bash", "-c", code]}},
        {"type": "execute", "parameters": {"command": "ls /home/user/Desktop /home/username", "shell": True}}],
        "evaluator": {"func": "exact_match", "result": {"type": "vm_command_line", "command": ["sh", "-c", code]},
                      "expected": {"type": "rule", "rules": {"expected": ""}}}}
    (tmp_path / "os").mkdir()
    (tmp_path / "os" / "t.json").write_text(json.dumps(task))
    item = load_osworld(tmp_path)[0]
    assert item.supported and not item.docker and "home" not in item.task.params, item.docker
    moved = ("cd $HOME && zip -qr a.zip ''\"$HOME\"'/my dir' \"$HOME/b\" && python3 -c \"open('$HOME/c')\"")
    assert item.task.config[0]["parameters"]["command"] == ["/bin/bash", "-c", moved]
    assert item.task.config[1]["parameters"]["command"] == "ls $HOME/Desktop /home/username"
    assert item.task.evaluator["result"]["command"] == ["sh", "-c", moved]


def test_package_installs_are_network_needs(tmp_path):
    task = {"id": "t", "instruction": "x", "config": [
        {"type": "execute", "parameters": {"command": "echo {CLIENT_PASSWORD} | sudo -S apt-get install -y jq",
                                           "shell": True}}],
        "evaluator": {"func": "infeasible"}}
    (tmp_path / "os").mkdir()
    (tmp_path / "os" / "t.json").write_text(json.dumps(task))
    item = load_osworld(tmp_path)[0]
    assert [str(r) for r in item.network] == [
        "network install: setup step 0 installs packages from the internet (apt-get install)"]
    assert [r.name for r in item.docker] == ["sudo"] and item.task.params["network"]


def test_the_local_provider_refuses_a_task_that_needs_a_container_before_starting_a_desktop(loaded):
    env = DesktopEnv(task=loaded["5812b315-e7bd-4265-b51f-863c02174c28"].task)
    try:
        with pytest.raises(ResetError) as refused:
            env.reset()
        info = refused.value.info
        assert "names OSWorld's home /home/user inside its code" in info["env_error"], info
        assert "provider='docker'" in info["env_error"] and env.client is None  # refused before any desktop started
        env.task.params.pop("home")
        with pytest.raises(ResetError, match="runs sudo.*provider='docker'"):
            env.reset()
        assert env.client is None
    finally:
        env.close()


def mirror(cache: Path, domain: str, task_id: str, files: dict[str, bytes]) -> None:
    """A local copy of OSWorld's remote files, laid out <domain>/<task id>/<file> like its file cache."""
    folder = cache / domain / task_id
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def test_a_file_cache_mirror_makes_download_tasks_run_offline(tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["item", "spent"])
    workbook.save(tmp_path / "book.xlsx")
    data = (tmp_path / "book.xlsx").read_bytes()
    mirror(tmp_path / "cache", "libreoffice_calc", CALC, {
        "Keep_Two_decimal_points.xlsx": data, "Keep_Two_decimal_points_gold.xlsx": data,
        "Keep_Two_decimal_points_gold-Sheet1.csv": b"item,spent\n"})
    item = by_id(load_osworld(EXAMPLES / "libreoffice_calc" / f"{CALC}.json", file_cache=tmp_path / "cache"))[CALC]
    assert item.supported and not item.network, item.network
    url = item.task.config[0]["parameters"]["files"][0]["url"]
    assert url == (tmp_path / "cache" / "libreoffice_calc" / CALC / "Keep_Two_decimal_points.xlsx").resolve().as_uri()
    assert item.task.config[0]["parameters"]["files"][0]["path"] == "~/Keep_Two_decimal_points.xlsx"
    assert item.task.evaluator["expected"]["path"][1].endswith("Keep_Two_decimal_points_gold-Sheet1.csv")
    assert item.task.evaluator["options"]["rules"][0]["type"] == "sheet_print"


def test_a_partial_mirror_still_reports_the_missing_download(tmp_path):
    mirror(tmp_path / "cache", "libreoffice_calc", CALC, {"Keep_Two_decimal_points.xlsx": b"x"})
    item = load_osworld(EXAMPLES / "libreoffice_calc" / f"{CALC}.json", file_cache=tmp_path / "cache")[0]
    assert item.supported and [(r.kind, r.name) for r in item.network] == [("network", "cloud_file")]


def test_a_missing_path_is_an_error_that_says_what_to_pass(tmp_path):
    with pytest.raises(TaskError, match="pass an OSWorld task file or a folder of them"):
        load_osworld(tmp_path / "nowhere")


def test_check_osworld_prints_a_table_per_domain_and_the_reasons(capsys):
    assert main(["tasks", "check-osworld", str(EXAMPLES)]) == 0
    out = capsys.readouterr().out
    assert "11/13 tasks under" in out and "run here (with network), 5 of them without network" in out
    assert "; 1 of them need the docker provider (OSWorld's /home/user inside their code, or sudo)" in out
    assert "│ os                  │     3 │         3 │       3 │      1 │           0 │         100 │" in out
    assert "│ account │ googledrive" in out and "│ format  │ json" in out


def test_check_osworld_offline_counts_network_needs_as_reasons(capsys):
    assert main(["tasks", "check-osworld", str(EXAMPLES), "--offline"]) == 0
    out = capsys.readouterr().out
    assert "5/13 tasks under" in out and "run here without network, 5 of them without network" in out
    assert "│ network │ download" in out
    assert main(["tasks", "check-osworld", str(EXAMPLES), "--assume-network"]) == 0
    assert "11/13 tasks under" in capsys.readouterr().out


def test_check_osworld_json_lists_each_task_with_its_reasons(capsys):
    assert main(["tasks", "check-osworld", str(EXAMPLES), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 13
    ssh = next(row for row in rows if row["id"] == "5812b315-e7bd-4265-b51f-863c02174c28")
    assert ssh["supported"] is True and ssh["docker"][0].startswith("docker sudo:")
    calc = next(row for row in rows if row["id"] == CALC)
    assert calc["supported"] is True and calc["network"][0].startswith("network download: setup step 0 reaches")


@pytest.mark.desktop
def test_a_loaded_osworld_task_runs_in_the_desktop_env(loaded, tmp_path):
    task = loaded["3b27600c-3668-4abd-8f84-7bcdebbccbdb"].task
    env = DesktopEnv(task=task, max_steps=5)
    try:
        env.reset()
        *_, info = env.step("DONE")
        assert info["reason"] == "exact_match: 'absent\\n' != 'found\\n'"
        env.reset()
        env.step("import os\nos.makedirs(os.path.expanduser('~/reports_2024'))\n"
                 "open(os.path.expanduser('~/reports_2024/summary.txt'), 'w').close()")
        _, reward, terminated, _, info = env.step("DONE")
        assert terminated and reward == 1.0, info
    finally:
        env.close()
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_an_osworld_file_given_as_a_task_path_loads_exactly_as_load_osworld_loads_it(tmp_path):
    from step_envs.tasks.loader import load_task

    loaded = by_id(load_osworld(EXAMPLES))  # fresh: other tests change the module fixture's tasks
    for item in loaded.values():
        if item.supported:  # gym.make(..., task=path) and DesktopEnv(task=path) go through load_task
            task = load_task(str(item.path))
            assert (task.id, task.config, task.evaluator, task.params) == (
                item.task.id, item.task.config, item.task.evaluator, item.task.params), item.id
        else:
            with pytest.raises(TaskError, match=f"(cannot read task file )?{item.path}"):
                load_task(str(item.path))
    home = loaded["3b27600c-3668-4abd-8f84-7bcdebbccbdb"]
    assert load_task(home.path).config[0]["parameters"]["command"] == ["rm", "-rf", "~/reports_2024"]
    no_id = tmp_path / "mine" / "no-id.json"
    no_id.parent.mkdir()
    no_id.write_text(json.dumps({"instruction": "x", "evaluator": {"func": "infeasible"}}))
    with pytest.raises(TaskError, match=f"{no_id}: task '\\?' has no 'id' field"):
        load_task(str(no_id))


def test_osworld_runtime_dir_terminal_keys_and_a11y_getters_are_translated(tmp_path):
    from step_envs.tasks.osworld import OPEN_TERMINAL

    bus = "export DBUS_SESSION_BUS_ADDRESS='unix:path=/run/user/1000/bus'\ngsettings get org.gnome.shell favorite-apps"
    keys = "import pyautogui; import time; pyautogui.hotkey('ctrl', 'alt', 't'); time.sleep(0.5); pyautogui.write('ls')"
    task = {"id": "t", "instruction": "x", "config": [
        {"type": "execute", "parameters": {"command": bus, "shell": True}},
        {"type": "execute", "parameters": {"command": ["python", "-c", keys]}}],
        "evaluator": {"func": "check_include_exclude", "result": {"type": "vm_terminal_output"},
                      "expected": {"type": "rule", "rules": {"include": ["x"], "exclude": []}}}}
    (tmp_path / "os").mkdir()
    (tmp_path / "os" / "t.json").write_text(json.dumps(task))
    item = load_osworld(tmp_path)[0]
    assert item.supported, item.unsupported
    # OSWorld's user's runtime dir is the session's, where its D-Bus listens (inside single quotes too)
    command = item.task.config[0]["parameters"]["command"]
    assert command.startswith("export DBUS_SESSION_BUS_ADDRESS='unix:path='\"$XDG_RUNTIME_DIR\"'/bus'\n")
    out = subprocess.run(["bash", "-c", command.split("\n")[0] + "; echo $DBUS_SESSION_BUS_ADDRESS"],
                         env={"XDG_RUNTIME_DIR": "/x/run", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert out.stdout == "unix:path=/x/run/bus\n"
    # ctrl+alt+t also waits for the new terminal before the script types into it
    assert item.task.config[1]["parameters"]["command"] == ["python", "-c", keys.replace(
        "pyautogui.hotkey('ctrl', 'alt', 't')", OPEN_TERMINAL)]
    # the checker reads the terminal through the accessibility tree: the env gives the task a session with AT-SPI
    assert item.task.params == {"a11y": ["vm_terminal_output"]}
    env = DesktopEnv(task=item.task)
    assert env._make_provider().a11y
    env.close()
