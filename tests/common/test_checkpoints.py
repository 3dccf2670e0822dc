"""Checkpoints: round trips, raw observations, refusals and every error path."""

import hashlib
import json
import os
import pickle
import select
import signal
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils.common import checkpoint_checks, checkpoint_specs
from course_utils.common.checkpoints import (
    FORMAT,
    HASH_KEY,
    REQUIRED_METADATA,
    CheckpointWarning,
    check_network_spec,
    check_save_path,
    data_dir,
    load_network,
    load_policy,
    package_versions,
    repair_sidecar,
    save_checkpoint,
    shipped_checkpoint,
)
from course_utils.common.networks import DuelingQNetwork, MLPActor, QNetwork
from course_utils.common.policies import ActorPolicy, QPolicy


def ram_net() -> QNetwork:
    torch.manual_seed(0)
    return QNetwork(128, 6, hidden=(16,), obs_low=[0] * 128, obs_high=[255] * 128)


@pytest.fixture
def saved(tmp_path, make_metadata):
    """A Space Invaders RAM agent saved to tmp_path: (path, network, metadata given)."""
    net = ram_net()
    metadata = make_metadata(
        "ALE/SpaceInvaders-v5", env_kwargs={"obs_type": "ram"}, eval_epsilon=0.05
    )
    path = save_checkpoint(tmp_path / "agent.pt", net, metadata=metadata)
    return path, net, metadata


def test_round_trip_gives_identical_outputs(saved):
    path, net, _ = saved
    loaded, metadata = load_network(path)
    assert type(loaded) is QNetwork and not loaded.training
    ram = torch.randint(0, 256, (20, 128), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ram), net(ram), rtol=0, atol=0)
    assert metadata["network"] == net.spec


@pytest.mark.parametrize(
    "net, kind",
    [
        (
            DuelingQNetwork(
                2, 3, hidden=(8, 8), obs_low=[-1.2, -0.07], obs_high=[0.6, 0.07]
            ),
            "q",
        ),
        (MLPActor(24, 4, hidden=(8,)), "actor"),
    ],
    ids=["dueling", "actor"],
)
def test_round_trip_other_networks(tmp_path, make_metadata, net, kind):
    path = save_checkpoint(tmp_path / "n.pt", net, metadata=make_metadata(kind=kind))
    loaded, _ = load_network(path)
    assert type(loaded) is type(net)
    obs = torch.rand(5, net.obs_dim)
    with torch.no_grad():
        torch.testing.assert_close(loaded(obs), net(obs), rtol=0, atol=0)


def test_loaded_policy_takes_raw_uint8_ram(saved):
    path, net, _ = saved
    policy, _ = load_policy(path, epsilon=0.0)
    assert isinstance(policy, QPolicy)
    rng = np.random.default_rng(0)
    for _ in range(10):
        ram = rng.integers(0, 256, 128, dtype=np.uint8)  # exactly what the env returns
        action = policy(ram)
        with torch.no_grad():
            expected = int(net(torch.as_tensor(ram)[None]).argmax())
        assert action == expected and 0 <= action < 6


def test_sidecar_json_holds_the_metadata_and_the_hash(saved):
    path, net, metadata = saved
    sidecar = path.with_name("agent.pt.json")
    written = json.loads(sidecar.read_text())
    assert written.pop(HASH_KEY) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert written == {**metadata, "network": net.spec}
    assert set(REQUIRED_METADATA) <= set(written)


def test_atomic_write_leaves_no_temp_files(saved, tmp_path):
    path, net, metadata = saved
    save_checkpoint(path, net, metadata=metadata, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.pt", "agent.pt.json"]


def test_save_creates_missing_folders(tmp_path, make_metadata):
    path = save_checkpoint(
        tmp_path / "a" / "b" / "agent.pt",
        QNetwork(2, 3, hidden=(4,)),
        metadata=make_metadata(),
    )
    assert path.is_file() and path.with_name("agent.pt.json").is_file()


def test_overwrite_refused_and_original_left_unchanged(saved, make_metadata):
    path, _, metadata = saved
    before = path.read_bytes()
    before_json = path.with_name("agent.pt.json").read_bytes()
    other = QNetwork(2, 3, hidden=(4,))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_checkpoint(path, other, metadata=make_metadata())
    assert path.read_bytes() == before
    assert path.with_name("agent.pt.json").read_bytes() == before_json
    # With overwrite=True the file really is replaced.
    save_checkpoint(path, other, metadata=make_metadata(), overwrite=True)
    loaded, _ = load_network(path)
    assert type(loaded) is QNetwork and loaded.obs_dim == 2


def test_a_leftover_sidecar_also_blocks_the_write(tmp_path, make_metadata):
    (tmp_path / "agent.pt.json").write_text("{}")
    with pytest.raises(FileExistsError, match="agent.pt.json"):
        save_checkpoint(
            tmp_path / "agent.pt", QNetwork(2, 3, hidden=(4,)), metadata=make_metadata()
        )
    assert not (tmp_path / "agent.pt").exists()


def test_corrupt_file_is_a_value_error(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"this is not a checkpoint\x00\x01\x02" * 10)
    with pytest.raises(ValueError, match="not a readable course checkpoint"):
        load_policy(path)


def test_truncated_checkpoint_is_a_value_error(saved, tmp_path):
    path, _, _ = saved
    broken = tmp_path / "broken.pt"
    data = path.read_bytes()
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        load_network(broken)


@pytest.mark.parametrize(
    "payload",
    [{"state_dict": {}, "metadata": {}}, {"format": "something-else"}, [1, 2, 3]],
    ids=["no-format", "other-format", "a-list"],
)
def test_a_file_that_is_not_a_course_checkpoint(tmp_path, payload):
    path = tmp_path / "other.pt"
    torch.save(payload, path)
    with pytest.raises(ValueError, match=f"is not a course checkpoint.*{FORMAT}"):
        load_network(path)


def test_a_plain_state_dict_is_not_a_course_checkpoint(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save(QNetwork(2, 3, hidden=(4,)).state_dict(), path)
    with pytest.raises(ValueError, match="not a course checkpoint"):
        load_policy(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_network(tmp_path / "nope.pt")


def _payload(net, metadata):
    return {
        "format": FORMAT,
        "state_dict": net.state_dict(),
        "metadata": {**metadata, "network": net.spec},
    }


@pytest.mark.parametrize("key", ["seed", "env_id", "versions", "network"])
def test_missing_metadata_key_on_load(tmp_path, make_metadata, key):
    net = QNetwork(2, 3, hidden=(4,))
    payload = _payload(net, make_metadata())
    del payload["metadata"][key]
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=rf"metadata is missing \['{key}'\]"):
        load_network(tmp_path / "m.pt")


def test_missing_evaluation_entry_on_load(tmp_path, make_metadata):
    net = QNetwork(2, 3, hidden=(4,))
    payload = _payload(net, make_metadata())
    del payload["metadata"]["evaluation"]["seeds"]
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(
        ValueError, match="metadata\\['evaluation'\\] needs a 'seeds' entry"
    ):
        load_network(tmp_path / "m.pt")


def test_missing_metadata_key_on_save(tmp_path, make_metadata):
    metadata = make_metadata()
    del metadata["train_steps"]
    with pytest.raises(ValueError, match=r"missing \['train_steps'\]"):
        save_checkpoint(
            tmp_path / "a.pt", QNetwork(2, 3, hidden=(4,)), metadata=metadata
        )
    assert list(tmp_path.iterdir()) == []


def test_weights_for_another_architecture(tmp_path, make_metadata):
    small, big = QNetwork(2, 3, hidden=(4,)), QNetwork(2, 3, hidden=(8,))
    payload = _payload(small, make_metadata())
    payload["metadata"]["network"] = big.spec  # the metadata describes another network
    torch.save(payload, tmp_path / "mixed.pt")
    with pytest.raises(ValueError, match="weights for another architecture"):
        load_policy(tmp_path / "mixed.pt")


def test_dueling_weights_under_a_plain_q_spec(tmp_path, make_metadata):
    dueling = DuelingQNetwork(2, 3, hidden=(4,))
    payload = _payload(dueling, make_metadata())
    payload["metadata"]["network"] = QNetwork(2, 3, hidden=(4,)).spec
    torch.save(payload, tmp_path / "mixed.pt")
    with pytest.raises(ValueError, match="another architecture"):
        load_network(tmp_path / "mixed.pt")


def test_a_spec_with_wrong_arguments_is_a_value_error(tmp_path, make_metadata):
    net = QNetwork(2, 3, hidden=(4,))
    payload = _payload(net, make_metadata())
    payload["metadata"]["network"] = {"class": "QNetwork", "kwargs": {"obs_dim": 2}}
    torch.save(payload, tmp_path / "badspec.pt")
    with pytest.raises(ValueError, match="QNetwork"):
        load_network(tmp_path / "badspec.pt")


@pytest.mark.parametrize(
    "bad", [np.float32(1.5), {1, 2}, object()], ids=["np.float32", "set", "object"]
)
def test_non_json_metadata_is_refused(tmp_path, make_metadata, bad):
    metadata = make_metadata()
    metadata["train_steps"] = bad
    with pytest.raises(ValueError, match="JSON-serialisable"):
        save_checkpoint(
            tmp_path / "a.pt", QNetwork(2, 3, hidden=(4,)), metadata=metadata
        )
    assert list(tmp_path.iterdir()) == []


def test_a_model_without_spec_is_refused(tmp_path, make_metadata):
    with pytest.raises(ValueError, match="knows its spec"):
        save_checkpoint(
            tmp_path / "a.pt", torch.nn.Linear(2, 3), metadata=make_metadata()
        )


def test_load_policy_honours_eval_epsilon(saved):
    path, _, _ = saved
    policy, metadata = load_policy(path)
    assert isinstance(policy, QPolicy)
    assert metadata["policy"]["eval_epsilon"] == 0.05
    assert policy.epsilon == 0.05 and policy.rng is not None
    greedy, _ = load_policy(path, epsilon=0.0)
    assert greedy.epsilon == 0.0


def test_load_policy_epsilon_really_explores(saved):
    path, _, _ = saved
    policy, _ = load_policy(path, epsilon=1.0, seed=0)
    ram = np.zeros(128, dtype=np.uint8)
    assert len({policy(ram) for _ in range(200)}) == 6  # every action shows up
    first, _ = load_policy(path, epsilon=1.0, seed=3)
    second, _ = load_policy(path, epsilon=1.0, seed=3)
    assert [first(ram) for _ in range(30)] == [second(ram) for _ in range(30)]


def test_load_policy_actor(tmp_path, make_metadata):
    actor = MLPActor(24, 4, hidden=(8,))
    path = save_checkpoint(
        tmp_path / "walker.pt",
        actor,
        metadata=make_metadata("BipedalWalker-v3", kind="actor"),
    )
    policy, metadata = load_policy(path)
    assert isinstance(policy, ActorPolicy)
    assert metadata["env_id"] == "BipedalWalker-v3"
    obs = np.linspace(-1, 1, 24, dtype=np.float32)
    action = policy(obs)
    assert action.shape == (4,) and action.dtype == np.float32
    with torch.no_grad():
        np.testing.assert_array_equal(
            action, actor(torch.as_tensor(obs)[None])[0].numpy()
        )


def test_unknown_policy_kind_refused_on_save_and_on_load(tmp_path, make_metadata):
    net = QNetwork(2, 3, hidden=(4,))
    with pytest.raises(ValueError, match="unknown policy kind 'sarsa'"):
        save_checkpoint(tmp_path / "a.pt", net, metadata=make_metadata(kind="sarsa"))
    assert list(tmp_path.iterdir()) == []
    torch.save(_payload(net, make_metadata(kind="sarsa")), tmp_path / "b.pt")
    with pytest.raises(ValueError, match="unknown policy kind 'sarsa'"):
        load_policy(tmp_path / "b.pt")


def test_package_versions():
    versions = package_versions()
    assert versions["torch"] == torch.__version__
    assert versions["numpy"] == np.__version__
    assert {"python", "course-utils", "gymnasium", "ale-py"} <= set(versions)


def test_data_dir_and_shipped_checkpoint(tmp_path, monkeypatch):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "agent.pt").write_bytes(b"x")
    monkeypatch.setenv("COURSE_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    assert shipped_checkpoint("agent.pt") == tmp_path / "checkpoints" / "agent.pt"
    with pytest.raises(FileNotFoundError, match="make checkpoints"):
        shipped_checkpoint("missing.pt")
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="COURSE_DATA"):
        data_dir()


def test_default_data_dir_is_the_repository_data_folder(monkeypatch):
    monkeypatch.delenv("COURSE_DATA", raising=False)
    assert data_dir().name == "data" and (data_dir().parent / "course_utils").is_dir()


# --- The checkpoint and its sidecar are one unit (issue 16, item 3) -----------------


def sidecar_of(path):
    return path.with_name(path.name + ".json")


def temp_files(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def test_a_missing_sidecar_loads_with_a_warning(saved):
    path, net, _ = saved
    sidecar_of(path).unlink()
    with pytest.warns(CheckpointWarning, match=r"no sidecar.*repair_sidecar"):
        loaded, metadata = load_network(path)
    obs = torch.randint(0, 256, (4, 128), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(obs), net(obs), rtol=0, atol=0)
    assert metadata["env_id"] == "ALE/SpaceInvaders-v5"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"[1, 2]", b"\xff\xfe\x00binary", b'{"a": 1}\n<<<<<<< HEAD'],
    ids=["broken", "empty", "a-list", "binary", "merge-conflict"],
)
def test_a_corrupt_sidecar_is_refused(saved, content):
    path, _, _ = saved
    sidecar_of(path).write_bytes(content)
    with pytest.raises(ValueError, match=r"agent\.pt\.json.*repair_sidecar"):
        load_policy(path)


def test_a_sidecar_one_save_behind_is_refused(saved, make_metadata):
    path, net, metadata = saved
    old_sidecar = sidecar_of(path).read_bytes()
    newer = {**metadata, "seed": 7}
    save_checkpoint(path, ram_net(), metadata=newer, overwrite=True)
    sidecar_of(path).write_bytes(old_sidecar)  # what a kill between the files left
    with pytest.raises(ValueError, match=r"SHA-256.*repair_sidecar"):
        load_network(path)


@pytest.mark.parametrize(
    "edit, where",
    [
        (lambda m: m.update(env_id="MountainCar-v0"), "env_id"),
        (lambda m: m["evaluation"].update(mean=500.0), r"evaluation\.mean"),
        (lambda m: m.pop("seed"), "seed"),
        (lambda m: m.update(extra="added"), "extra"),
    ],
    ids=["env_id", "score", "removed-key", "added-key"],
)
def test_an_edited_sidecar_is_refused(saved, edit, where):
    path, _, _ = saved
    written = json.loads(sidecar_of(path).read_text())
    edit(written)
    sidecar_of(path).write_text(json.dumps(written, indent=2))
    with pytest.raises(ValueError, match=rf"disagrees.*{where}.*repair_sidecar"):
        load_policy(path)


def test_repair_sidecar_rebuilds_it_from_the_checkpoint(saved):
    path, net, metadata = saved
    sidecar_of(path).write_text('{"env_id": "edited"}')
    assert repair_sidecar(path) == sidecar_of(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, loaded = load_network(path)
    assert loaded == {**metadata, "network": net.spec}
    assert temp_files(path.parent) == []


def test_a_sidecar_without_hash_from_older_saves(saved):
    path, _, _ = saved
    written = json.loads(sidecar_of(path).read_text())
    del written[HASH_KEY]
    sidecar_of(path).write_text(json.dumps(written))
    with pytest.warns(CheckpointWarning, match=r"no SHA-256.*repair_sidecar"):
        load_network(path)
    written["env_id"] = "MountainCar-v0"
    sidecar_of(path).write_text(json.dumps(written))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the error alone, no warning before it
        with pytest.raises(ValueError, match="disagrees.*env_id"):
            load_network(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_inf_in_metadata_are_refused(tmp_path, make_metadata, bad):
    metadata = make_metadata()
    metadata["evaluation"]["std"] = bad
    with pytest.raises(ValueError, match=r"metadata\['evaluation'\]\['std'\].*None"):
        save_checkpoint(
            tmp_path / "a.pt", QNetwork(2, 3, hidden=(4,)), metadata=metadata
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("config", {1: "a"}, "keys must be strings"),
        ("config", {"steps": np.int64(3)}, "JSON-serialisable"),
        (HASH_KEY, "0" * 64, "reserved"),
    ],
    ids=["int-key", "numpy-int", "reserved-key"],
)
def test_metadata_that_would_not_round_trip_is_refused(
    tmp_path, make_metadata, key, value, message
):
    metadata = {**make_metadata(), key: value}
    with pytest.raises(ValueError, match=message):
        save_checkpoint(
            tmp_path / "a.pt", QNetwork(2, 3, hidden=(4,)), metadata=metadata
        )
    assert list(tmp_path.iterdir()) == []


def test_the_sidecar_is_strict_json(saved):
    path, _, _ = saved

    def refuse(constant):
        raise AssertionError(f"{constant} in the sidecar")

    json.loads(sidecar_of(path).read_text(), parse_constant=refuse)


@pytest.mark.parametrize(
    "error", [OSError("No space left on device"), KeyboardInterrupt]
)
def test_a_failed_save_leaves_no_temp_files_and_the_old_pair(saved, monkeypatch, error):
    path, _, metadata = saved
    before = path.read_bytes(), sidecar_of(path).read_bytes()

    def fail(fd):
        raise error

    monkeypatch.setattr("course_utils.common.checkpoint_files.os.fsync", fail)
    with pytest.raises(type(error) if isinstance(error, OSError) else error):
        save_checkpoint(
            path, ram_net(), metadata={**metadata, "seed": 5}, overwrite=True
        )
    monkeypatch.undo()
    assert temp_files(path.parent) == []
    assert (path.read_bytes(), sidecar_of(path).read_bytes()) == before
    load_network(path)


DEAD_PID = 9_999_999  # above Linux's largest pid (4194304): never a live process


def test_temp_files_of_killed_saves_are_removed_by_the_next_load_and_save(saved):
    path, net, metadata = saved
    folder = path.parent
    mine = os.getpid()
    leftovers = {
        f".agent.pt.tmp-{DEAD_PID}-0a1b2c3d": "removed",  # a killed save's .pt
        f".agent.pt.json.tmp-{DEAD_PID}-0a1b2c3d": "removed",  # and its sidecar
        f".agent.pt.tmp{DEAD_PID}": "removed",  # the name older versions used
        f".agent.pt.tmp-{mine}-00000000": "kept",  # a save under way right now
        f".other.pt.tmp-{DEAD_PID}-0a1b2c3d": "kept",  # another checkpoint's
    }
    for name in leftovers:
        (folder / name).write_bytes(b"partial")
    load_network(path)
    assert temp_files(folder) == sorted(k for k, v in leftovers.items() if v == "kept")
    (folder / f".agent.pt.tmp{DEAD_PID}").write_bytes(b"partial")
    old = time.time() - 24 * 3600
    os.utime(folder / f".agent.pt.tmp-{mine}-00000000", (old, old))  # a day old
    save_checkpoint(path, net, metadata=metadata, overwrite=True)
    assert temp_files(folder) == [f".other.pt.tmp-{DEAD_PID}-0a1b2c3d"]


def _run_in_child(work) -> int:
    """Fork; the child runs ``work()`` and never returns to pytest. Returns the pid."""
    pid = os.fork()
    if pid == 0:
        try:
            torch.set_num_threads(1)  # the parent's thread pool does not survive fork
            work()
        finally:
            os._exit(0)
    return pid


needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@needs_fork
def test_a_save_killed_between_its_two_renames_is_completed_by_the_next_load(
    saved, make_metadata
):
    path, _, metadata = saved

    def save_and_die_between_the_renames():
        import course_utils.common.checkpoints as checkpoints

        real_replace, calls = os.replace, []

        def replace(src, dst):
            calls.append(dst)
            if len(calls) == 2:  # the .pt is in place, the sidecar not yet
                os.kill(os.getpid(), signal.SIGKILL)
            real_replace(src, dst)

        checkpoints.os.replace = replace
        net = ram_net()
        save_checkpoint(path, net, metadata={**metadata, "seed": 42}, overwrite=True)

    pid = _run_in_child(save_and_die_between_the_renames)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert json.loads(sidecar_of(path).read_text())["seed"] == 0  # one save behind
    with pytest.warns(CheckpointWarning, match="interrupted save"):
        _, loaded = load_network(path)
    assert loaded["seed"] == 42 == json.loads(sidecar_of(path).read_text())["seed"]
    assert temp_files(path.parent) == []


def kill_saves(path, make_metadata, *, kills, seed):
    """Kill a process that saves ``path`` in a loop ``kills`` times at random
    moments; after each kill load the pair. Returns the outcomes counted."""
    rng = np.random.default_rng(seed)
    counts = {"consistent": 0, "refused": 0, "temp files left by the kill": 0}
    for kill in range(kills):
        read, write = os.pipe()

        def save_forever(kill=kill, read=read, write=write):
            os.close(read)
            net = QNetwork(2, 3, hidden=(256, 256))
            for i in range(10**9):
                seed = kill * 10**6 + i
                with torch.no_grad():
                    for p in net.parameters():
                        p.fill_(seed)
                meta = {**make_metadata(), "seed": seed}
                save_checkpoint(path, net, metadata=meta, overwrite=True)
                if i == 0:
                    os.write(write, b"x")  # the first save is done

        pid = _run_in_child(save_forever)
        os.close(write)
        ready, _, _ = select.select([read], [], [], 20.0)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the saving process did not start within 20 s")
        assert os.read(read, 1) == b"x"
        os.close(read)
        time.sleep(rng.uniform(0, 0.05))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        counts["temp files left by the kill"] += bool(temp_files(path.parent))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CheckpointWarning)
                net, metadata = load_network(path)
        except ValueError as error:
            assert "agent.pt.json" in str(error) and "repair_sidecar" in str(error)
            counts["refused"] += 1
        else:
            assert metadata == {
                k: v
                for k, v in json.loads(sidecar_of(path).read_text()).items()
                if k != HASH_KEY
            }
            assert float(net.body[0].weight[0, 0].detach()) == metadata["seed"]
            counts["consistent"] += 1
        assert temp_files(path.parent) == []
    return counts


@needs_fork
def test_saves_killed_at_random_moments_leave_a_consistent_pair(
    tmp_path, make_metadata
):
    path = tmp_path / "agent.pt"
    counts = kill_saves(path, make_metadata, kills=15, seed=0)
    print("kill -9 outcomes:", counts)
    assert counts["consistent"] + counts["refused"] == 15
    save_checkpoint(
        path, QNetwork(2, 3, hidden=(4,)), metadata=make_metadata(), overwrite=True
    )
    assert temp_files(tmp_path) == []
    load_network(path)


# --- The network is checked before it is built (issue 16, item 2) -------------------


def big_spec(**changes):
    kwargs = {
        "obs_dim": 2,
        "n_actions": 3,
        "hidden": [4],
        "obs_low": None,
        "obs_high": None,
    }
    return {"class": "QNetwork", "kwargs": {**kwargs, **changes}}


def test_a_huge_spec_with_small_weights_is_refused_before_allocating(
    tmp_path, make_metadata, monkeypatch
):
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    payload["metadata"]["network"] = big_spec(hidden=[4096, 4096])
    torch.save(payload, tmp_path / "big.pt")
    built = []
    real_build = checkpoint_specs.build_network

    def spy(spec):
        net = real_build(spec)
        built.extend(p.device.type for p in net.parameters())
        return net

    monkeypatch.setattr(checkpoint_specs, "build_network", spy)
    with pytest.raises(ValueError, match=r"body\.0\.weight.*\(4096, 2\).*\(4, 2\)"):
        load_network(tmp_path / "big.pt")
    assert set(built) <= {"meta"}  # nothing was allocated for real


@pytest.mark.parametrize(
    "spec, message",
    [
        (big_spec(hidden=[5000]), r"hidden.*4096"),
        (big_spec(hidden=[4] * 9), r"hidden.*8 layers"),
        (big_spec(hidden=[4096, 4096, 4096]), r"parameters.*20,000,000"),
        (big_spec(hidden="256"), r"hidden.*list of whole numbers"),
        (big_spec(hidden=[2, 2.7]), r"hidden.*list of whole numbers"),
        (big_spec(obs_dim=0), r"obs_dim.*between 1 and 4096"),
        (big_spec(obs_dim=True), r"obs_dim.*whole number"),
        (big_spec(obs_dim=10**9), r"obs_dim.*between 1 and 4096"),
        (big_spec(n_actions=-1), r"n_actions.*between 1 and 4096"),
        (big_spec(obs_low=[0.0], obs_high=[1.0, 1.0]), r"obs_low.*2 finite numbers"),
        (
            big_spec(obs_low=[0.0, float("nan")], obs_high=[1.0, 1.0]),
            r"obs_low.*finite",
        ),
        (big_spec(obs_low=[0.0, 2.0], obs_high=[1.0, 1.0]), r"obs_low < obs_high"),
        ({"class": "QNetwork", "kwargs": [1, 2]}, r"'kwargs'.*dict"),
        ({"class": "os.system", "kwargs": {}}, r"Unknown network class"),
        ([1, 2], r"'class' and 'kwargs'"),
    ],
)
def test_a_bad_spec_in_a_file_is_a_clear_value_error(
    tmp_path, make_metadata, spec, message
):
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    payload["metadata"]["network"] = spec
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=message):
        load_network(tmp_path / "bad.pt")


def test_save_refuses_a_network_that_load_would_refuse(tmp_path, make_metadata):
    with pytest.raises(ValueError, match=r"hidden.*4096"):
        save_checkpoint(
            tmp_path / "a.pt", QNetwork(2, 3, hidden=(4097,)), metadata=make_metadata()
        )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_on_save_and_on_load(
    tmp_path, make_metadata, bad
):
    net = QNetwork(2, 3, hidden=(4,))
    with torch.no_grad():
        net.body[0].weight[0, 0] = bad
    with pytest.raises(ValueError, match=r"body\.0\.weight.*NaN or inf"):
        save_checkpoint(tmp_path / "a.pt", net, metadata=make_metadata())
    assert list(tmp_path.iterdir()) == []
    torch.save(_payload(net, make_metadata()), tmp_path / "b.pt")
    with pytest.raises(ValueError, match=r"body\.0\.weight.*NaN or inf"):
        load_network(tmp_path / "b.pt")


@pytest.mark.parametrize(
    "state_dict",
    [[1, 2], {"body.0.weight": [[1.0, 2.0]]}],
    ids=["a-list", "not-tensors"],
)
def test_a_state_dict_that_is_not_tensors(tmp_path, make_metadata, state_dict):
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    payload["state_dict"] = state_dict
    torch.save(payload, tmp_path / "s.pt")
    with pytest.raises(ValueError, match="state_dict"):
        load_network(tmp_path / "s.pt")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.update(env_id=5), r"env_id.*string"),
        (lambda m: m.update(env_kwargs=["obs_type"]), r"env_kwargs.*dict"),
        (lambda m: m["policy"].update(eval_epsilon="0.05"), r"eval_epsilon.*\[0, 1\]"),
        (lambda m: m["policy"].update(eval_epsilon=float("nan")), r"eval_epsilon"),
        (lambda m: m.update(policy="q"), r"policy.*dict"),
    ],
    ids=["env_id", "env_kwargs", "eps-string", "eps-nan", "policy-string"],
)
def test_metadata_of_the_wrong_type_in_a_file(tmp_path, make_metadata, edit, message):
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    edit(payload["metadata"])
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=message):
        load_policy(tmp_path / "m.pt")


# --- Malicious files stay refused: weights_only=True ------------------------------


class Exploit:
    """Unpickling this would run code: it writes the file named in ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["torch.save", "legacy-torch.save", "pickle"])
def test_a_malicious_pickle_is_refused_and_runs_nothing(tmp_path, make_metadata, how):
    marker = tmp_path / "pwned"
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    payload["metadata"]["seed"] = Exploit(marker)
    path = tmp_path / "evil.pt"
    if how == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=how == "torch.save")
    with pytest.raises(ValueError, match="not a readable course checkpoint"):
        load_policy(path)
    assert not marker.exists()


# --- Errors that say what went wrong (issue 16, item 7) ---------------------------


def test_cuda_on_a_machine_without_it(saved, monkeypatch):
    path, _, _ = saved
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"CUDA is not available.*device='cpu'"):
        load_policy(path, device="cuda")
    with pytest.raises(ValueError, match=r"CUDA is not available.*device='cpu'"):
        load_network(path, device=torch.device("cuda:0"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_on_this_cpu_only_machine(saved):
    with pytest.raises(ValueError, match="CUDA is not available"):
        load_policy(saved[0], device="cuda")


@pytest.mark.parametrize("device", ["gpu", "cuda:abc", "", 3, None, "meta"])
def test_a_device_that_is_not_one(saved, device):
    with pytest.raises(ValueError, match=r"device.*'cpu'"):
        load_policy(saved[0], device=device)


def test_loading_a_folder(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "agent.pt").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"folder.*agent\.pt"):
        load_network(tmp_path / "run")


def test_loading_the_sidecar_instead_of_the_checkpoint(saved):
    path, _, _ = saved
    with pytest.raises(ValueError, match=r"sidecar.*load .*agent\.pt"):
        load_policy(sidecar_of(path))


def test_a_missing_suffix_gets_a_suggestion(saved):
    path, _, _ = saved
    with pytest.raises(FileNotFoundError, match=r"No checkpoint.*agent\.pt\?"):
        load_network(path.with_suffix(""))


@pytest.mark.parametrize("path", ["", None, 3.5, b"agent.pt"], ids=repr)
def test_a_path_that_is_not_one(tmp_path, make_metadata, path):
    error = ValueError if path == "" else TypeError
    with pytest.raises(error, match="path"):
        load_network(path)
    with pytest.raises(error, match="path"):
        save_checkpoint(path, QNetwork(2, 3, hidden=(4,)), metadata=make_metadata())


def test_a_checkpoint_too_big_to_be_one(tmp_path):
    path = tmp_path / "huge.pt"
    with path.open("wb") as file:
        file.truncate(checkpoint_checks.MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ValueError, match="MB"):
        load_network(path)


def test_an_unreadable_checkpoint(saved, monkeypatch):
    path, _, _ = saved
    real = Path.read_bytes

    def denied(self):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(PermissionError, match=r"cannot read.*permission"):
        load_network(path)
    with pytest.raises(ValueError):  # the trainer and evaluator catch ValueError
        load_network(path)


@pytest.mark.parametrize("overwrite", [False, True])
def test_saving_onto_a_folder(tmp_path, make_metadata, overwrite):
    (tmp_path / "agent.pt").mkdir()
    (tmp_path / "agent.pt" / "keep.txt").write_text("keep")
    with pytest.raises(ValueError, match=r"folder.*agent\.pt"):
        save_checkpoint(
            tmp_path / "agent.pt",
            QNetwork(2, 3, hidden=(4,)),
            metadata=make_metadata(),
            overwrite=overwrite,
        )
    assert (tmp_path / "agent.pt" / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.pt"]


def test_saving_where_the_sidecar_would_be_a_folder(tmp_path, make_metadata):
    (tmp_path / "agent.pt.json").mkdir()
    with pytest.raises(ValueError, match=r"folder.*agent\.pt\.json"):
        save_checkpoint(
            tmp_path / "agent.pt",
            QNetwork(2, 3, hidden=(4,)),
            metadata=make_metadata(),
            overwrite=True,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.pt.json"]


def test_saving_under_a_file(tmp_path, make_metadata):
    (tmp_path / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match=r"notes\.txt.*not a folder"):
        save_checkpoint(
            tmp_path / "notes.txt" / "agent.pt",
            QNetwork(2, 3, hidden=(4,)),
            metadata=make_metadata(),
        )
    assert (tmp_path / "notes.txt").read_text() == "keep"


def test_saving_as_json_is_refused(tmp_path, make_metadata):
    with pytest.raises(ValueError, match=r"\.json.*\.pt"):
        save_checkpoint(
            tmp_path / "agent.json",
            QNetwork(2, 3, hidden=(4,)),
            metadata=make_metadata(),
        )
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder this process may not write into (as root: /sys)."""
    if os.name == "posix" and os.geteuid() == 0:
        if not Path("/sys").is_dir():
            pytest.skip("no folder that root may not write")
        yield Path("/sys")
        return
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


@pytest.mark.parametrize("sub", ["", "new/deeper"], ids=["folder", "missing-subfolder"])
def test_saving_into_a_folder_without_write_permission(
    unwritable_folder, make_metadata, sub
):
    path = unwritable_folder / sub / "agent.pt"
    for call in (
        lambda: check_save_path(path),
        lambda: save_checkpoint(
            path, QNetwork(2, 3, hidden=(4,)), metadata=make_metadata()
        ),
    ):
        with pytest.raises(PermissionError, match=r"cannot write.*Fix"):
            call()
    assert not path.exists()


def test_check_save_path_before_a_long_training_run(saved, tmp_path):
    path, _, _ = saved
    with pytest.raises(FileExistsError, match="overwrite=True"):
        check_save_path(path)
    assert check_save_path(path, overwrite=True) == path
    assert (
        check_save_path(tmp_path / "new" / "agent.pt") == tmp_path / "new" / "agent.pt"
    )
    assert temp_files(tmp_path) == [] and temp_files(tmp_path / "new") == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epsilon": "0.1"}, "epsilon"),
        ({"epsilon": float("nan")}, "epsilon"),
        ({"epsilon": 2.0}, "epsilon"),
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": "0"}, "seed"),
    ],
)
def test_load_policy_bad_epsilon_or_seed(saved, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_policy(saved[0], **kwargs)


# --- The shipped checkpoints ----------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "mountaincar_dqn.pt",
        "spaceinvaders_ram_dqn.pt",
        "bipedalwalker_selective_memory.pt",
    ],
)
def test_shipped_checkpoints_load_with_their_sidecars(name):
    path = shipped_checkpoint(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        policy, metadata = load_policy(path)
    written = json.loads(sidecar_of(path).read_text())
    assert written.pop(HASH_KEY) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert json.loads(json.dumps(metadata)) == written


def test_epsilon_for_an_actor_checkpoint_is_refused(tmp_path, make_metadata):
    path = save_checkpoint(
        tmp_path / "walker.pt",
        MLPActor(24, 4, hidden=(8,)),
        metadata=make_metadata("BipedalWalker-v3", kind="actor"),
    )
    with pytest.raises(ValueError, match=r"epsilon.*actor.*Fix: leave epsilon out"):
        load_policy(path, epsilon=0.1)


@pytest.mark.parametrize("overwrite", ["yes", 1, None])
def test_overwrite_must_be_true_or_false(saved, overwrite):
    path, net, metadata = saved
    with pytest.raises(TypeError, match="overwrite must be True or False"):
        save_checkpoint(path, net, metadata=metadata, overwrite=overwrite)


def test_a_path_ending_in_a_slash_names_a_folder(tmp_path, make_metadata):
    with pytest.raises(ValueError, match=r"ends in '/'.*agent\.pt"):
        save_checkpoint(
            f"{tmp_path}/runs/", QNetwork(2, 3, hidden=(4,)), metadata=make_metadata()
        )
    assert list(tmp_path.iterdir()) == []


def test_a_path_starting_with_a_tilde_is_the_home_folder(
    tmp_path, make_metadata, monkeypatch
):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = save_checkpoint(
        "~/runs/agent.pt", QNetwork(2, 3, hidden=(4,)), metadata=make_metadata()
    )
    assert path == tmp_path / "runs" / "agent.pt" and path.is_file()
    load_network("~/runs/agent.pt")


@pytest.mark.parametrize(
    "net, kind",
    [(MLPActor(3, 2, hidden=(4,)), "q"), (QNetwork(2, 3, hidden=(4,)), "actor")],
    ids=["actor-as-q", "q-as-actor"],
)
def test_a_policy_kind_that_does_not_fit_the_network(
    tmp_path, make_metadata, net, kind
):
    with pytest.raises(ValueError, match=f"policy kind '{kind}' needs"):
        save_checkpoint(tmp_path / "a.pt", net, metadata=make_metadata(kind=kind))
    assert list(tmp_path.iterdir()) == []
    torch.save(_payload(net, make_metadata(kind=kind)), tmp_path / "b.pt")
    with pytest.raises(ValueError, match=f"policy kind '{kind}' needs"):
        load_network(tmp_path / "b.pt")


def test_check_network_spec_before_a_long_training_run():
    assert check_network_spec(QNetwork(2, 3, hidden=(256, 256)).spec) is None
    assert check_network_spec(MLPActor(24, 4, hidden=(1024, 512)).spec) is None
    with pytest.raises(ValueError, match=r"parameters.*20,000,000"):
        check_network_spec(big_spec(hidden=[4096, 4096, 4096]))
    with pytest.raises(ValueError, match=r"hidden.*4096"):
        check_network_spec(big_spec(hidden=[8192]))
