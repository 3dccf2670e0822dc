"""Checkpoints: round trips, raw observations, refusals and every error path.

One ``.pt`` file is the truth; the ``.pt.json`` beside it is a readable copy that
loading never reads. Hostile files are refused before they cost memory or run code.
"""

import json
import os
import pickle
import select
import signal
import subprocess
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from course_utils.common import checkpoints
from course_utils.common.checkpoints import (
    FORMAT,
    MAX_FILE_BYTES,
    REQUIRED_METADATA,
    check_network_spec,
    check_save_path,
    load_network,
    load_policy,
    save_checkpoint,
)
from course_utils.common.data import data_dir, shipped_checkpoint
from course_utils.common.networks import DuelingQNetwork, MLPActor, QNetwork
from course_utils.common.policies import ActorPolicy, QPolicy
from course_utils.common.versions import package_versions


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


def copy_of(path):
    return path.with_name(path.name + ".json")


def temp_files(folder):
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name)


def _payload(net, metadata):
    """The parts of a checkpoint, the metadata as a dict (``write`` makes it JSON)."""
    return {
        "format": FORMAT,
        "state_dict": dict(net.state_dict()),
        "metadata": {**metadata, "network": net.spec},
    }


def write(payload, path):
    """``payload`` saved as save_checkpoint lays a file out, without its checks."""
    if isinstance(payload, dict) and isinstance(payload.get("metadata"), dict):
        payload = {**payload, "metadata": json.dumps(payload["metadata"])}
    torch.save(payload, path)
    return path


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


def test_the_file_holds_the_metadata_as_json_text(saved):
    path, net, metadata = saved
    payload = torch.load(path, weights_only=True)
    assert set(payload) == {"format", "metadata", "state_dict"}
    assert payload["format"] == FORMAT == "course-checkpoint-v2"
    assert json.loads(payload["metadata"]) == {**metadata, "network": net.spec}
    assert set(REQUIRED_METADATA) <= set(json.loads(payload["metadata"]))


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


# --- The readable copy: written for people, never read by loading --------------


def test_the_copy_holds_the_metadata_as_strict_json(saved):
    path, net, metadata = saved

    def refuse(constant):
        raise AssertionError(f"{constant} in the copy")

    written = json.loads(copy_of(path).read_text(), parse_constant=refuse)
    assert written == {**metadata, "network": net.spec} == load_network(path)[1]


def _edit_env_id(copy):
    written = json.loads(copy.read_text())
    written["env_id"] = "MountainCar-v0"
    written["evaluation"]["mean"] = 10_000.0
    copy.write_text(json.dumps(written))


@pytest.mark.parametrize(
    "damage",
    [
        lambda copy: copy.unlink(),
        lambda copy: copy.write_bytes(b"{not json"),
        lambda copy: copy.write_bytes(b'{"a": 1}\n<<<<<<< HEAD'),
        _edit_env_id,
        lambda copy: (copy.unlink(), copy.symlink_to("/dev/zero")),
        lambda copy: (copy.unlink(), os.mkfifo(copy)),
    ],
    ids=["missing", "broken", "merge-conflict", "edited", "dev-zero", "pipe"],
)
def test_the_copy_changes_nothing(saved, damage):
    """Missing, corrupt, edited, or a link to /dev/zero or a pipe (which would hang
    a reader): loading gives the same network and metadata, with no warning."""
    path, net, metadata = saved
    damage(copy_of(path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded, loaded_metadata = load_network(path)
    assert loaded_metadata == {**metadata, "network": net.spec}
    ram = torch.randint(0, 256, (4, 128), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(ram), net(ram), rtol=0, atol=0)


def test_a_copy_that_cannot_be_written_only_warns(tmp_path, make_metadata, monkeypatch):
    """The .pt is saved and complete; the copy, for people only, gets a warning."""

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", disk_full)
    with pytest.warns(UserWarning, match=r"not its copy agent\.pt\.json.*space"):
        path = save_checkpoint(
            tmp_path / "agent.pt", QNetwork(2, 3, hidden=(4,)), metadata=make_metadata()
        )
    monkeypatch.undo()
    assert load_network(path)[1]["seed"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.pt"]


def test_loading_the_copy_instead_of_the_checkpoint(saved):
    path, _, _ = saved
    with pytest.raises(ValueError, match=r"readable copy.*load .*agent\.pt"):
        load_policy(copy_of(path))


# --- Writing: whole or not at all, nothing replaced silently --------------------


def test_a_save_leaves_no_temp_files(saved, tmp_path):
    path, net, metadata = saved
    save_checkpoint(path, net, metadata=metadata, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.pt", "agent.pt.json"]


def test_save_creates_missing_folders(tmp_path, make_metadata):
    path = save_checkpoint(
        tmp_path / "a" / "b" / "agent.pt",
        QNetwork(2, 3, hidden=(4,)),
        metadata=make_metadata(),
    )
    assert path.is_file() and copy_of(path).is_file()


def test_overwrite_refused_and_original_left_unchanged(saved, make_metadata):
    path, _, metadata = saved
    before = path.read_bytes()
    before_json = copy_of(path).read_bytes()
    other = QNetwork(2, 3, hidden=(4,))
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_checkpoint(path, other, metadata=make_metadata())
    assert path.read_bytes() == before
    assert copy_of(path).read_bytes() == before_json
    # With overwrite=True the file really is replaced.
    save_checkpoint(path, other, metadata=make_metadata(), overwrite=True)
    loaded, _ = load_network(path)
    assert type(loaded) is QNetwork and loaded.obs_dim == 2


def test_a_leftover_copy_also_blocks_the_write(tmp_path, make_metadata):
    (tmp_path / "agent.pt.json").write_text("{}")
    with pytest.raises(FileExistsError, match="agent.pt.json"):
        save_checkpoint(
            tmp_path / "agent.pt", QNetwork(2, 3, hidden=(4,)), metadata=make_metadata()
        )
    assert not (tmp_path / "agent.pt").exists()


def test_a_link_at_the_path_is_replaced_not_written_through(tmp_path, make_metadata):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    (tmp_path / "agent.pt").symlink_to(victim)
    save_checkpoint(
        tmp_path / "agent.pt",
        QNetwork(2, 3, hidden=(4,)),
        metadata=make_metadata(),
        overwrite=True,
    )
    assert victim.read_text() == "keep" and not (tmp_path / "agent.pt").is_symlink()
    load_network(tmp_path / "agent.pt")


@pytest.mark.parametrize(
    "error", [OSError("No space left on device"), KeyboardInterrupt]
)
def test_a_failed_save_leaves_no_temp_files_and_the_old_file(saved, monkeypatch, error):
    path, _, metadata = saved
    before = path.read_bytes(), copy_of(path).read_bytes()

    def fail(fd):
        raise error

    monkeypatch.setattr("course_utils.common.files.os.fsync", fail)
    with pytest.raises(type(error) if isinstance(error, OSError) else error):
        save_checkpoint(
            path, ram_net(), metadata={**metadata, "seed": 5}, overwrite=True
        )
    monkeypatch.undo()
    assert temp_files(path.parent) == []
    assert (path.read_bytes(), copy_of(path).read_bytes()) == before
    load_network(path)


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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_saves_killed_at_random_moments_always_leave_a_whole_checkpoint(
    tmp_path, make_metadata
):
    """kill -9 at random moments of a saving loop: the .pt always loads, its weights
    those of its own metadata; the next save removes what killed ones left."""
    path, rng = tmp_path / "agent.pt", np.random.default_rng(0)
    outcomes = {"loaded": 0, "temp files left by the kill": 0}
    for kill in range(15):
        read, write_end = os.pipe()

        def save_forever(kill=kill, read=read, write_end=write_end):
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
                    os.write(write_end, b"x")  # the first save is done

        pid = _run_in_child(save_forever)
        os.close(write_end)
        ready, _, _ = select.select([read], [], [], 20.0)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the saving process did not start within 20 s")
        assert os.read(read, 1) == b"x"
        os.close(read)
        time.sleep(rng.uniform(0, 0.05))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        outcomes["temp files left by the kill"] += bool(temp_files(tmp_path))
        net, metadata = load_network(path)
        assert float(net.body[0].weight[0, 0].detach()) == metadata["seed"]
        outcomes["loaded"] += 1
    print("kill -9 outcomes:", outcomes)
    save_checkpoint(
        path, QNetwork(2, 3, hidden=(4,)), metadata=make_metadata(), overwrite=True
    )
    assert temp_files(tmp_path) == []


# --- Refused on load: not a course checkpoint, or not this network's -----------


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


def test_the_older_format_is_refused(tmp_path, make_metadata):
    """The format before the .pt became the only truth (the metadata a pickled dict)
    is no longer read: tools/convert_checkpoints.py converts a file once."""
    net = QNetwork(2, 3, hidden=(4,))
    payload = {**_payload(net, make_metadata()), "format": "course-checkpoint-v1"}
    torch.save(payload, tmp_path / "old.pt")
    with pytest.raises(ValueError, match=r"not a course checkpoint.*convert_checkp"):
        load_network(tmp_path / "old.pt")


@pytest.mark.parametrize(
    "parts, message",
    [
        ({"extra": torch.zeros(3)}, "unknown parts"),
        ({"metadata": {"env_id": "MountainCar-v0"}}, "not strict JSON text"),
        ({"metadata": '{"seed": NaN}'}, "not strict JSON"),
        ({"metadata": "[" * 100_000 + "]" * 100_000}, "not strict JSON"),
        ({"metadata": "[1, 2]"}, "metadata is missing"),
    ],
    ids=["unknown-part", "metadata-not-text", "nan", "deep", "a-list"],
)
def test_parts_a_checkpoint_does_not_have(tmp_path, make_metadata, parts, message):
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    payload["metadata"] = json.dumps(payload["metadata"])
    torch.save({**payload, **parts}, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match=message):
        load_network(tmp_path / "odd.pt")


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        load_network(tmp_path / "nope.pt")


@pytest.mark.parametrize("key", ["seed", "env_id", "versions", "network"])
def test_missing_metadata_key_on_load(tmp_path, make_metadata, key):
    net = QNetwork(2, 3, hidden=(4,))
    payload = _payload(net, make_metadata())
    del payload["metadata"][key]
    write(payload, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=rf"metadata is missing \['{key}'\]"):
        load_network(tmp_path / "m.pt")


def test_missing_evaluation_entry_on_load(tmp_path, make_metadata):
    net = QNetwork(2, 3, hidden=(4,))
    payload = _payload(net, make_metadata())
    del payload["metadata"]["evaluation"]["seeds"]
    write(payload, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=r"metadata\['evaluation'\] must be.*'seeds'"):
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
    write(payload, tmp_path / "mixed.pt")
    with pytest.raises(ValueError, match="weights for another architecture"):
        load_policy(tmp_path / "mixed.pt")


def test_dueling_weights_under_a_plain_q_spec(tmp_path, make_metadata):
    dueling = DuelingQNetwork(2, 3, hidden=(4,))
    payload = _payload(dueling, make_metadata())
    payload["metadata"]["network"] = QNetwork(2, 3, hidden=(4,)).spec
    write(payload, tmp_path / "mixed.pt")
    with pytest.raises(ValueError, match="another architecture"):
        load_network(tmp_path / "mixed.pt")


@pytest.mark.parametrize(
    "state",
    [
        lambda s: s.update(extra=torch.zeros(3)),
        lambda s: s.pop("body.0.bias"),
        lambda s: s.update({"body.0.bias": s["body.0.bias"].double()}),
    ],
    ids=["unknown-key", "missing-key", "another-dtype"],
)
def test_tensors_the_network_does_not_have_are_refused(tmp_path, make_metadata, state):
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    state(payload["state_dict"])
    write(payload, tmp_path / "odd.pt")
    with pytest.raises(ValueError, match="another architecture"):
        load_network(tmp_path / "odd.pt")


def test_a_spec_with_wrong_arguments_is_a_value_error(tmp_path, make_metadata):
    net = QNetwork(2, 3, hidden=(4,))
    payload = _payload(net, make_metadata())
    payload["metadata"]["network"] = {"class": "QNetwork", "kwargs": {"obs_dim": 2}}
    write(payload, tmp_path / "badspec.pt")
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
        ("history", list(range(10**6)), "characters of JSON"),
    ],
    ids=["int-key", "numpy-int", "too-long"],
)
def test_metadata_that_would_not_round_trip_is_refused(
    tmp_path, make_metadata, key, value, message, monkeypatch
):
    monkeypatch.setattr(checkpoints, "MAX_METADATA_BYTES", 100_000)
    metadata = {**make_metadata(), key: value}
    with pytest.raises(ValueError, match=message):
        save_checkpoint(
            tmp_path / "a.pt", QNetwork(2, 3, hidden=(4,)), metadata=metadata
        )
    assert list(tmp_path.iterdir()) == []


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
    kind = r"metadata\['policy'\] must be .*'q' or 'actor'.*'sarsa'"
    with pytest.raises(ValueError, match=kind):
        save_checkpoint(tmp_path / "a.pt", net, metadata=make_metadata(kind="sarsa"))
    assert list(tmp_path.iterdir()) == []
    write(_payload(net, make_metadata(kind="sarsa")), tmp_path / "b.pt")
    with pytest.raises(ValueError, match=kind):
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
    with pytest.raises(ValueError, match="file name"):
        shipped_checkpoint("../agent.pt")
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="COURSE_DATA"):
        data_dir()


def test_default_data_dir_is_the_repository_data_folder(monkeypatch):
    monkeypatch.delenv("COURSE_DATA", raising=False)
    assert data_dir().name == "data" and (data_dir().parent / "course_utils").is_dir()


# --- Bounded reads: checked before they cost memory or hang ---------------------


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom"])
def test_a_link_to_a_device_is_refused_without_reading_it(tmp_path, target):
    (tmp_path / "agent.pt").symlink_to(target)
    with pytest.raises(ValueError, match="not a regular file"):
        load_network(tmp_path / "agent.pt")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "agent.pt")
    with pytest.raises(ValueError, match="not a regular file"):
        load_network(tmp_path / "agent.pt")


def test_a_checkpoint_too_big_to_be_one(tmp_path):
    path = tmp_path / "huge.pt"
    with path.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(ValueError, match=f"over {MAX_FILE_BYTES:,} bytes"):
        load_network(path)


def test_a_compressed_archive_is_refused_before_unpacking(saved, tmp_path):
    """A small compressed file could unpack to far more than its size."""
    path, _, _ = saved
    packed = tmp_path / "packed.pt"
    with (
        zipfile.ZipFile(path) as original,
        zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for record in original.infolist():
            out.writestr(record.filename, original.read(record))
    assert packed.stat().st_size < path.stat().st_size
    with pytest.raises(ValueError, match="compressed"):
        load_network(packed)


def test_an_archive_listing_too_many_records_is_refused_before_listing(saved, tmp_path):
    """Reading a zip's list of records costs memory per record: a long list is
    refused from the size the end record declares, before it is read."""
    path, _, _ = saved
    crowded = tmp_path / "crowded.pt"
    with zipfile.ZipFile(path) as original, zipfile.ZipFile(crowded, "w") as out:
        for record in original.infolist():
            out.writestr(record, original.read(record))
        for i in range(3000):  # about 150 KB of listing
            out.writestr(f"archive/extra/{i:06d}", b"")
    with pytest.raises(ValueError, match="not a zip as torch.save writes it"):
        load_network(crowded)


def _expanded(n_rows):
    """A 1 KB storage viewed as ``n_rows`` rows: huge once materialised."""
    return torch.zeros(256).expand(n_rows, 256)


def test_a_weight_stored_as_a_view_is_refused(tmp_path, make_metadata):
    net = QNetwork(2, 256, hidden=(4,))
    payload = _payload(net, make_metadata())
    payload["state_dict"]["body.2.bias"] = torch.zeros(1).expand(256)  # stride 0
    write(payload, tmp_path / "view.pt")
    with pytest.raises(ValueError, match=r"body\.2\.bias.*not stored whole"):
        load_network(tmp_path / "view.pt")


LOAD_AND_MEASURE = """
import resource, sys
from course_utils.common.checkpoints import load_network
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    load_network(sys.argv[1])
except ValueError as error:
    print("refused:", str(error)[:300])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("peak growth kB:", after - before)
"""


def test_a_huge_view_of_a_small_file_costs_no_memory(tmp_path, make_metadata):
    """A 4 KB file whose extra tensor views 1 KB as 1 GB: refused with the memory
    the process had (measured in a fresh process, whose peak is its own)."""
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    payload["state_dict"]["extra"] = _expanded(2**20)  # 1 GiB of float32
    path = write(payload, tmp_path / "expanded.pt")
    assert path.stat().st_size < 10_000
    out = subprocess.run(
        [sys.executable, "-c", LOAD_AND_MEASURE, str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "refused:" in out and "another architecture" in out, out
    assert "extra: the spec needs nothing" in out, out
    growth_kb = int(out.split("peak growth kB:")[1])
    assert growth_kb < 50_000, out


def test_shapes_are_checked_before_any_tensor_data_is_read(
    tmp_path, make_metadata, monkeypatch
):
    """The first unpickling is onto the meta device: a mismatch is refused there."""
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    payload["state_dict"]["extra"] = torch.zeros(3)
    write(payload, tmp_path / "odd.pt")
    devices = []
    real_load = torch.load

    def spy(*args, **kwargs):
        devices.append(str(kwargs.get("map_location")))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoints.torch, "load", spy)
    with pytest.raises(ValueError, match="another architecture"):
        load_network(tmp_path / "odd.pt")
    assert devices == ["meta"]
    devices.clear()
    load_network(
        save_checkpoint(
            tmp_path / "ok.pt", QNetwork(2, 3, hidden=(4,)), metadata=make_metadata()
        )
    )
    assert devices == ["meta", "cpu"]


# --- The network is checked before it is built ----------------------------------


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
    write(payload, tmp_path / "big.pt")
    built = []
    real_build = checkpoints.build_network

    def spy(spec):
        net = real_build(spec)
        built.extend(p.device.type for p in net.parameters())
        return net

    monkeypatch.setattr(checkpoints, "build_network", spy)
    with pytest.raises(ValueError, match=r"body\.0\.weight.*\(4096, 2\).*\(4, 2\)"):
        load_network(tmp_path / "big.pt")
    assert set(built) <= {"meta"}  # nothing was allocated for real


@pytest.mark.parametrize(
    "spec, message",
    [
        (big_spec(hidden=[5000]), r"hidden.*4096"),
        (big_spec(hidden=[4] * 9), r"hidden.*at most 8 layer"),
        (big_spec(hidden=[4096, 4096, 4096]), r"parameters.*20,000,000"),
        (big_spec(hidden="256"), r"hidden must be a list"),
        (big_spec(hidden=[2, 2.7]), r"hidden.*whole number"),
        (big_spec(obs_dim=0), r"obs_dim must be a whole number >= 1"),
        (big_spec(obs_dim=True), r"obs_dim must be a whole number >= 1"),
        (big_spec(obs_dim=10**9), r"1000000000 wide \(obs_dim.*at most.*4096 wide"),
        (big_spec(n_actions=-1), r"n_actions must be a whole number >= 1"),
        (
            {**big_spec(n_quantiles=10**6), "class": "QuantileQNetwork"},
            r"3000000 wide.*n_quantiles.*4096 wide",
        ),
        (big_spec(obs_low=[0.0], obs_high=[1.0]), r"obs_low.*obs_dim = 2"),
        (big_spec(obs_low=[0.0], obs_high=[1.0, 1.0]), r"low < high.*equal shapes"),
        (big_spec(obs_low=[0, float("nan")], obs_high=[1, 1]), r"not strict JSON"),
        (big_spec(obs_low=[0.0, 2.0], obs_high=[1.0, 1.0]), r"low < high"),
        (big_spec(extra_argument=1), r"extra_argument"),
        ({"class": "QNetwork", "kwargs": [1, 2]}, r"'kwargs'"),
        ({"class": "QNetwork", "kwargs": {}, "code": "x"}, r"'class', 'kwargs'"),
        ({"class": "os.system", "kwargs": {}}, r"Unknown network class"),
        ([1, 2], r"'class', 'kwargs'"),
    ],
)
def test_a_bad_spec_in_a_file_is_a_clear_value_error(
    tmp_path, make_metadata, spec, message
):
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    payload["metadata"]["network"] = spec
    kwargs = spec.get("kwargs") if isinstance(spec, dict) else None
    if isinstance(kwargs, dict) and kwargs.get("obs_low"):
        payload["state_dict"]["normalize.low"] = torch.zeros(2)  # as the spec says
        payload["state_dict"]["normalize.scale"] = torch.ones(2)
    write(payload, tmp_path / "bad.pt")
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
    write(_payload(net, make_metadata()), tmp_path / "b.pt")
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
    write(payload, tmp_path / "s.pt")
    with pytest.raises(ValueError, match="state_dict"):
        load_network(tmp_path / "s.pt")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.update(env_id=5), r"env_id.*'MountainCar-v0'"),
        (lambda m: m.update(env_kwargs=["obs_type"]), r"env_kwargs.*dict"),
        (lambda m: m["policy"].update(eval_epsilon="0.05"), r"eval_epsilon.*\[0, 1\]"),
        (lambda m: m["policy"].update(eval_epsilon=2.0), r"eval_epsilon.*\[0, 1\]"),
        (lambda m: m.update(policy="q"), r"policy.*dict"),
    ],
    ids=["env_id", "env_kwargs", "eps-string", "eps-2", "policy-string"],
)
def test_metadata_of_the_wrong_type_in_a_file(tmp_path, make_metadata, edit, message):
    payload = _payload(QNetwork(2, 3, hidden=(4,)), make_metadata())
    edit(payload["metadata"])
    write(payload, tmp_path / "m.pt")
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
    payload["metadata"] = Exploit(marker)
    path = tmp_path / "evil.pt"
    if how == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path, _use_new_zipfile_serialization=how == "torch.save")
    with pytest.raises(ValueError, match="not a readable course checkpoint"):
        load_policy(path)
    assert not marker.exists()


# --- Errors that say what went wrong ----------------------------------------------


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


def test_an_unreadable_checkpoint(saved, monkeypatch):
    path, _, _ = saved
    real = os.open

    def denied(name, *args, **kwargs):
        if Path(name) == path:
            raise PermissionError(13, "Permission denied", str(name))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(checkpoints.os, "open", denied)
    with pytest.raises(PermissionError, match=r"cannot read.*ermission"):
        load_network(path)
    with pytest.raises(ValueError):  # the trainer and evaluator catch ValueError
        load_network(path)


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("name", ["agent.pt", "agent.pt.json"], ids=["pt", "copy"])
def test_saving_onto_a_folder(tmp_path, make_metadata, overwrite, name):
    (tmp_path / name).mkdir()
    (tmp_path / name / "keep.txt").write_text("keep")
    with pytest.raises(ValueError, match=rf"folder.*{name}"):
        save_checkpoint(
            tmp_path / "agent.pt",
            QNetwork(2, 3, hidden=(4,)),
            metadata=make_metadata(),
            overwrite=overwrite,
        )
    assert (tmp_path / name / "keep.txt").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_saving_under_a_file(tmp_path, make_metadata):
    (tmp_path / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match=r"notes\.txt.*a file is in the way"):
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
        ({"epsilon": True}, "epsilon"),
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
        "snake_dqn.pt",
        "spaceinvaders_ram_dqn.pt",
        "bipedalwalker_selective_memory.pt",
    ],
)
def test_shipped_checkpoints_load_and_their_copies_are_current(name):
    path = shipped_checkpoint(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, metadata = load_policy(path)
    assert torch.load(path, weights_only=True)["format"] == FORMAT
    assert json.loads(copy_of(path).read_text()) == metadata  # regenerated with it


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
    with pytest.raises(ValueError, match=f"policy kind '{kind}' does not fit"):
        save_checkpoint(tmp_path / "a.pt", net, metadata=make_metadata(kind=kind))
    assert list(tmp_path.iterdir()) == []
    write(_payload(net, make_metadata(kind=kind)), tmp_path / "b.pt")
    with pytest.raises(ValueError, match=f"policy kind '{kind}' does not fit"):
        load_network(tmp_path / "b.pt")


def test_check_network_spec_before_a_long_training_run():
    assert check_network_spec(QNetwork(2, 3, hidden=(256, 256)).spec) is None
    assert check_network_spec(MLPActor(24, 4, hidden=(1024, 512)).spec) is None
    with pytest.raises(ValueError, match=r"parameters.*20,000,000"):
        check_network_spec(big_spec(hidden=[4096, 4096, 4096]))
    with pytest.raises(ValueError, match=r"hidden.*4096"):
        check_network_spec(big_spec(hidden=[8192]))
