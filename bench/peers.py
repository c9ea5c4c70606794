"""Peers measured in the same run, against the same fake upstream (`make bench
PEERS=litellm`). Each is installed into its own environment under bench/.peers/, never
into Switchboard's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS_DIR = ROOT / "bench" / ".peers"

LITELLM_CONFIG = """\
model_list:
  - model_name: bench
    litellm_params:
      model: openai/bench-model
      api_base: http://127.0.0.1:{upstream_port}/v1
      api_key: sk-bench-upstream
general_settings:
  master_key: sk-bench-litellm
litellm_settings:
  drop_params: true
"""


def install_litellm() -> Path:
    """A venv with LiteLLM's proxy; returns its `litellm` executable."""
    venv = PEERS_DIR / "litellm"
    executable = venv / "bin" / "litellm"
    if not executable.exists():
        subprocess.run(["uv", "venv", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(
            ["uv", "pip", "install", "--python", str(venv / "bin" / "python"), "litellm[proxy]"],
            check=True,
        )
    return executable


def start_litellm(upstream_port: int, port: int, pinned: list[str]) -> subprocess.Popen[bytes]:
    executable = install_litellm()
    config = PEERS_DIR / "litellm-config.yaml"
    config.write_text(LITELLM_CONFIG.format(upstream_port=upstream_port))
    env = dict(os.environ, LITELLM_LOG="ERROR")
    return subprocess.Popen(
        [
            *pinned,
            str(executable),
            "--config",
            str(config),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--num_workers",
            "1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
