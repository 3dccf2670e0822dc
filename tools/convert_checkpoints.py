"""Convert course checkpoints from format ``course-checkpoint-v1`` (the metadata a
pickled dict, with a ``.pt.json`` sidecar that recorded the file's SHA-256) to
``course-checkpoint-v2`` (the metadata JSON text inside the ``.pt``, the ``.pt.json`` a
readable copy that loading never reads), in place:

    python tools/convert_checkpoints.py data/checkpoints/*.pt

For files you trust only (the course's, your own): it unpickles the old format, which
``load_network`` no longer reads. After writing, each file is loaded back through
``load_network`` and compared: every tensor's bytes and the metadata's JSON text must
equal the old ones, else the script stops with an error.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from course_utils.common.checkpoints import load_network, save_checkpoint
from course_utils.common.networks import build_network

OLD_FORMAT = "course-checkpoint-v1"


def convert(path: Path) -> str:
    """Rewrite ``path`` in the current format; returns a line saying what was kept."""
    old = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(old, dict) or old.get("format") != OLD_FORMAT:
        raise SystemExit(f"{path} is not a {OLD_FORMAT} checkpoint; left as it is.")
    metadata, state = old["metadata"], old["state_dict"]
    net = build_network(metadata["network"])
    net.load_state_dict(state)
    save_checkpoint(path, net, metadata=metadata, overwrite=True)
    loaded, new_metadata = load_network(path)
    new_state = loaded.state_dict()
    same = state.keys() == new_state.keys() and all(
        state[k].dtype == new_state[k].dtype
        and state[k].numpy().tobytes() == new_state[k].numpy().tobytes()
        for k in state
    )
    if not same or json.dumps(metadata) != json.dumps(new_metadata):
        raise SystemExit(f"{path}: the converted file differs from the old one!")
    n_bytes = sum(t.numel() * t.element_size() for t in state.values())
    return (
        f"{path}: {len(state)} tensors ({n_bytes:,} bytes) byte-identical, metadata "
        f"unchanged ({len(json.dumps(metadata)):,} characters of JSON)"
    )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    for name in sys.argv[1:]:
        print(convert(Path(name)))
