"""Checkpoints: round trips, raw observations, refusals and every error path."""

import json

import numpy as np
import pytest
import torch

from course_utils.checkpoints import (
    FORMAT,
    REQUIRED_METADATA,
    data_dir,
    load_network,
    load_policy,
    package_versions,
    save_checkpoint,
    shipped_checkpoint,
)
from course_utils.networks import DuelingQNetwork, MLPActor, QNetwork
from course_utils.policies import ActorPolicy, QPolicy


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


def test_sidecar_json_holds_the_metadata(saved):
    path, net, metadata = saved
    sidecar = path.with_name("agent.pt.json")
    written = json.loads(sidecar.read_text())
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


def test_load_policy_unknown_kind(tmp_path, make_metadata):
    path = save_checkpoint(
        tmp_path / "a.pt",
        QNetwork(2, 3, hidden=(4,)),
        metadata=make_metadata(kind="sarsa"),
    )
    with pytest.raises(ValueError, match="unknown policy kind 'sarsa'"):
        load_policy(path)


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
