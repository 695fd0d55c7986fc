"""One local session cannot see, touch or drive another: each runs as its own user from the pool.

Real sessions, real attacks: an agent's action in env A probes env B (its token, its home, its processes), and a
pool takes 200 random destructive actions while the other envs' episodes must all score as their solutions do.
"""

from __future__ import annotations

import os
import random
import stat
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from pool_support import comm

from step_envs.pool import EnvPool
from step_envs.providers.base import ProviderError
from step_envs.providers.local import LocalProvider
from step_envs.providers.procs import session_pids, user_pids
from step_envs.server.client import ControllerClient
from step_envs.tasks.probes import WRITE_FILE

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.desktop, pytest.mark.skipif(os.geteuid() != 0, reason="a user per session needs root")]

# run in env A against env B; each prints one word per probe: denied, or what leaked
PROBE_OTHER_SESSION = """
import os, signal, subprocess
def probe(name, attempt):
    try:
        attempt()
        print(name, 'LEAKED')
    except (PermissionError, ProcessLookupError, FileNotFoundError):  # not found: B's dir is not in A's /tmp
        print(name, 'denied')
probe('token', lambda: open('{dir}/run/token').read())
probe('home', lambda: os.listdir('{home}'))
probe('write', lambda: open('{home}/Desktop/planted.txt', 'w').write('x'))
probe('xauthority', lambda: open('{home}/.Xauthority', 'rb').read())
probe('signal', lambda: os.kill({pid}, signal.SIGTERM))
probe('environ', lambda: open('/proc/{pid}/environ', 'rb').read())
probe('pidfd', lambda: os.kill({pid}, 0))
"""


@pytest.fixture(scope="module")
def two_sessions() -> Iterator[tuple[LocalProvider, LocalProvider]]:
    a, b = LocalProvider(panel=False, desktop=False), LocalProvider(panel=False, desktop=False)
    try:
        a.start()
        b.start()
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_each_session_runs_as_its_own_user_with_private_dirs(two_sessions) -> None:
    a, b = two_sessions
    assert a._user is not None and b._user is not None and a._user.pw_uid != b._user.pw_uid
    for session in (a, b):
        assert session.dir is not None
        for path in (session.dir, session.home, session.dir / "run"):
            info = path.stat()
            assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == session._user.pw_uid, path
        assert not (session.dir / "run" / "token").exists(), "the token goes through a pipe, never a file"
        who = ControllerClient(session.endpoint).execute(["id", "-un"])["output"].strip()
        assert who == session._user.pw_name


def test_an_agent_in_one_session_cannot_read_write_or_signal_another(two_sessions) -> None:
    a, b = two_sessions
    server_b = max(user_pids(b._user.pw_uid))
    code = PROBE_OTHER_SESSION.format(dir=b.dir, home=b.home, pid=server_b)
    result = ControllerClient(a.endpoint).act(code)
    assert result["status"] == "success", result
    outcome = dict(line.split() for line in result["output"].splitlines())
    assert outcome == dict.fromkeys(("token", "home", "write", "xauthority", "signal", "environ", "pidfd"),
                                    "denied"), outcome
    # and the blunt forms, from a shell of a third session that takes itself down with them
    shell = f"rm -rf {b.dir} /tmp/step-gym-* /dev/shm/*; pkill -9 -u {b._user.pw_name}; kill -9 -1"
    with LocalProvider(panel=False, desktop=False) as c:
        with pytest.raises(ProviderError):  # kill -9 -1 took its own controller too
            ControllerClient(c.endpoint).execute(["bash", "-c", shell], timeout=10)
    assert b.alive() and b.home.is_dir() and user_pids(b._user.pw_uid)
    assert ControllerClient(b.endpoint).act("pyautogui.moveTo(5, 5)")["status"] == "success"


def test_a_session_gets_its_own_dev_shm_and_process_cap(two_sessions) -> None:
    a, b = two_sessions
    fill = "dd if=/dev/zero of=/dev/shm/fill bs=1M count=4096 2>/dev/null; df --output=avail -k /dev/shm | tail -1"
    left = ControllerClient(a.endpoint).execute(["bash", "-c", fill], timeout=30)["output"].split()
    assert left == ["0"], left  # A's own tmpfs is full ...
    free = ControllerClient(b.endpoint).execute(["bash", "-c", "df --output=avail -k /dev/shm | tail -1"])
    assert int(free["output"]) > 100_000  # ... B's is not, nor is the host's
    assert ControllerClient(a.endpoint).execute(["bash", "-c", "ulimit -u"])["output"].strip() == "2048"
    a.restore()
    assert not any(a.shm.iterdir()), "restore empties the session's /dev/shm"


def test_a_session_gets_its_own_tmp_that_the_host_and_other_sessions_never_see(two_sessions) -> None:
    a, b = two_sessions
    name = f"step-gym-probe-{os.getpid()}"
    write = f"import os\nopen('/tmp/{name}', 'w').write('a')\nprint(sorted(os.listdir('/tmp')))"
    result = ControllerClient(a.endpoint).act(write)
    assert result["status"] == "success" and name in result["output"]
    assert not os.path.exists(f"/tmp/{name}")  # not on the host's /tmp ...
    seen = ControllerClient(b.endpoint).execute(["ls", "-a", "/tmp"])["output"].split()
    assert name not in seen and ".X11-unix" in seen  # ... nor in another session's, which has its own sockets dir
    assert (a.tmp / name).read_text() == "a"  # the provider sees it where the session does
    a.restore()
    assert not (a.tmp / name).exists(), "restore empties the session's /tmp"
    assert ControllerClient(a.endpoint).execute(["test", "-d", str(a.home)])["returncode"] == 0  # its dir stays


def test_a_venv_under_a_directory_closed_to_the_session_user_still_runs_the_session(tmp_path) -> None:
    """As root with `python3 -m venv /root/venv` or a venv in a `mktemp -d` folder (0700): the session user could
    not run that interpreter; the session's mount namespace binds the venv back where it is."""
    import subprocess
    import sys
    import sysconfig
    import textwrap

    closed = tmp_path / "closed"  # pytest's tmp dirs are 0700 already; be explicit
    closed.mkdir(mode=0o700)
    venv = closed / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    # this venv's packages and the checkout, reached through a .pth: the new venv's own path is what is closed
    (site / "step-gym-test.pth").write_text(f"{sysconfig.get_path('purelib')}\n{ROOT}\n")
    script = textwrap.dedent("""
        import sys
        from step_envs.desktop.env import DesktopEnv
        env = DesktopEnv(task="os-create-folder")
        obs, info = env.reset()
        assert info.get("env_error") is None, info
        print("session prefix:", env.client.act("import sys; print(sys.prefix)")["output"].strip())
        obs, reward, terminated, truncated, info = env.step("import os; os.makedirs(os.path.expanduser('~/projects'))")
        obs, reward, terminated, truncated, info = env.step("DONE")
        print("reward", reward)
        env.close()
    """)
    result = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True,
                            timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert f"session prefix: {venv}" in result.stdout and "reward 1.0" in result.stdout, result.stdout


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_restore_kills_a_process_that_scrubbed_its_session_marker(two_sessions) -> None:
    a, _ = two_sessions
    escape = ("import subprocess, time\nsubprocess.Popen(['env', '-i', '/bin/sleep', '600'], start_new_session=True)"
              "\ntime.sleep(0.3)")
    assert ControllerClient(a.endpoint).act(escape)["status"] == "success"
    escaped = [pid for pid in user_pids(a._user.pw_uid) if comm(pid) == "sleep"]
    assert escaped and not session_pids(a.session_id) & set(escaped)
    a.restore()
    assert not [pid for pid in escaped if _running(pid)]  # a zombie until the worker reaps it
    assert a.alive()


def test_restore_removes_what_a_killed_sound_daemon_left_in_the_runtime_dir(two_sessions) -> None:
    """A PulseAudio that an app autospawned dies with the episode; its socket and pid file must go with it, or the
    next episode's VLC waits forever for a daemon to autospawn (``STALE_RUNTIME``)."""
    a, _ = two_sessions
    plant = ("import os, pathlib\nrun = pathlib.Path(os.environ['XDG_RUNTIME_DIR'])\n"
             "(run / 'pulse').mkdir()\n(run / 'pulse' / 'pid').write_text('4242')\n(run / 'pulse' / 'native').touch()")
    assert ControllerClient(a.endpoint).act(plant)["status"] == "success"
    assert (a.dir / "run" / "pulse" / "pid").exists()
    a.restore()
    assert not (a.dir / "run" / "pulse").exists() and (a.dir / "run" / "bus").exists()
    assert a.alive()


# --- 200 destructive actions over a pool ---------------------------------------------------------------------

ATTACKS = {
    "pkill every process it can see": "subprocess.run('pkill -9 -f .; pkill -9 xfwm4; pkill -9 Xvfb', shell=True)",
    "kill -9 -1": "subprocess.run('kill -9 -1', shell=True)",
    "rm -rf /tmp": "subprocess.run('rm -rf /tmp/* /tmp/.[!.]* /var/tmp/*', shell=True)",
    "rm -rf other homes": "subprocess.run('rm -rf /tmp/step-gym-*/home /tmp/step-gym-*/run', shell=True)",
    "fork bomb": "subprocess.Popen(['bash', '-c', ':(){ :|:& };:'], start_new_session=True); time.sleep(1.5)",
    "fill /dev/shm": "subprocess.run('cat /dev/zero > /dev/shm/fill', shell=True)",
}
# the ones that take their own env down cost a replacement (~2 s) each: drawn less often, to keep the test short
WEIGHTS = {"pkill every process it can see": 1, "kill -9 -1": 1, "rm -rf /tmp": 4, "rm -rf other homes": 4,
           "fork bomb": 1, "fill /dev/shm": 4}
DESTRUCTIVE_ACTIONS, NUM_ENVS, PER_ROUND = 200, 4, 8
CLEAN_PLAN = ["time.sleep(0.2)", "time.sleep(0.2)", WRITE_FILE.solution[0], "DONE"]


def _attack_round(pool: EnvPool, attacker: int, attacks: list[str], outcomes: Counter) -> dict[int, tuple]:
    """Env ``attacker`` runs ``attacks`` (re-reset whenever one kills it) while every other env runs a clean
    episode of WRITE_FILE at the same time. Returns each clean env's (reward, env_error)."""
    queue, clean, steps = list(attacks), {}, dict.fromkeys(range(pool.num_envs), 0)
    sent: dict[int, str] = {}
    for index in range(pool.num_envs):
        pool.send_reset(index, WRITE_FILE)
    while pool.in_flight():
        for ready in pool.recv(timeout=120):
            index, info = ready.env_index, ready.info
            if index == attacker:
                if not info.get("reset"):
                    outcomes[(sent[index], "killed its own env" if info.get("env_error") else "ran")] += 1
                if info.get("env_error"):
                    pool.send_reset(index, WRITE_FILE)
                elif queue:
                    sent[index] = queue.pop(0)
                    pool.send(index, "import subprocess, time\n" + ATTACKS[sent[index]])
            elif info.get("env_error") or ready.terminated or ready.truncated:
                clean[index] = (ready.reward, info.get("env_error"))
            else:
                pool.send(index, CLEAN_PLAN[steps[index]])
                steps[index] += 1
    pool.send_reset(attacker, WRITE_FILE)  # heal: whatever the attacker did to itself ends here
    while not any(not r.info.get("env_error") for r in pool.recv(timeout=120)):
        pool.send_reset(attacker, WRITE_FILE)
    return clean


@pytest.mark.timeout(600)
def test_200_destructive_actions_leave_every_other_env_scored_right() -> None:
    """200 random destructive actions, in rounds of 8 from a random env of a 4-env pool; in each round the other
    three envs run a clean episode alongside. Every clean episode must end with the solution's reward and no env
    error: 0 lost, 0 mislabelled."""
    rng = random.Random(16)
    outcomes: Counter = Counter()
    wrong, clean_done = [], 0
    provider_kwargs = {"panel": False, "desktop": False, "pids_limit": 256, "private_shm": "64m"}
    with EnvPool(NUM_ENVS, "local", env_kwargs={"max_steps": PER_ROUND + len(CLEAN_PLAN), "action_timeout": 3.0},
                 provider_kwargs=provider_kwargs, health_interval=0.5) as pool:
        for _ in range(DESTRUCTIVE_ACTIONS // PER_ROUND):
            attacker = rng.randrange(NUM_ENVS)
            attacks = rng.choices(list(ATTACKS), weights=list(WEIGHTS.values()), k=PER_ROUND)
            for index, (reward, env_error) in _attack_round(pool, attacker, attacks, outcomes).items():
                clean_done += 1
                if reward != 1.0 or env_error:
                    wrong.append((index, attacker, reward, env_error))
    print("\n".join(f"{kind}: {outcome} x{count}" for (kind, outcome), count in sorted(outcomes.items())))
    assert sum(outcomes.values()) == DESTRUCTIVE_ACTIONS and {kind for kind, _ in outcomes} == ATTACKS.keys()
    assert not wrong and clean_done == (NUM_ENVS - 1) * DESTRUCTIVE_ACTIONS // PER_ROUND, wrong
