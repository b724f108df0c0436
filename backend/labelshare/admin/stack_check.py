"""``python -m labelshare.admin.stack_check``: after ``make api`` starts ``labelshare serve`` in the
background, wait until that process answers and check it serves the deployment this stack
recorded, on this stack's chain; exit 1 with the reason (and the API log's tail) otherwise.

Fresh anvils share a chain id and, deployed to by the same account, contract addresses, so the
chain id alone does not tell two local stacks apart: the recorded block hash and the code at
every address do (``find_live_deployment``), and ``/status`` names the process that answered.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from web3 import HTTPProvider, Web3

from labelshare.admin.deploy import find_live_deployment
from labelshare.deployment import Deployment, manifest_path

LOG_TAIL_LINES = 20


class StackError(Exception):
    """Why the stack is not what this invocation started."""


def live_deployment(rpc_url: str, record: Path) -> Deployment:
    """The deployment ``record`` describes, checked live on the chain at ``rpc_url``."""
    w3 = Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": 5}))
    try:
        deployment = find_live_deployment(w3, record)
    except (OSError, ValueError) as err:  # requests' connection errors are OSErrors
        raise StackError(f"cannot reach the chain at {rpc_url}: {type(err).__name__}") from None
    if deployment is None:
        raise StackError(f"{record} does not describe contracts live on the chain at {rpc_url} "
                         f"(missing, or recorded on another chain): run `make up` with the same ports")
    return deployment


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    return True


def wait_for_api(api: str, pid: int, timeout: float) -> dict[str, Any]:
    """``/status`` once the API process ``pid`` answers it; another process answering on the port
    (another stack's API) does not count."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            raise StackError(f"the API (pid {pid}) exited before answering on {api}")
        try:
            response = httpx.get(f"{api}/status", timeout=5)
            if response.status_code == 200 and response.json()["replica"].endswith(f":{pid}"):
                return dict(response.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise StackError(f"the API (pid {pid}) did not answer on {api} within {timeout:g} s")


def check_serves(api: str, rpc_url: str, deployment: Deployment) -> None:
    """The API's ``/chain`` names this chain and this deployment."""
    served = httpx.get(f"{api}/chain", timeout=10).json()
    expected = {"chain_id": deployment.chain_id, "rpc_url": rpc_url, "deployment_block": deployment.block_number,
                "ledger": deployment.address("ledger"), "token": deployment.address("token")}
    wrong = [key for key, value in expected.items() if str(served.get(key)).lower() != str(value).lower()]
    if wrong:
        raise StackError(f"the API on {api} serves {({k: served.get(k) for k in wrong})}, "
                         f"not this stack's {({k: expected[k] for k in wrong})}")


def log_tail(log: Path) -> str:
    try:
        return "".join(log.read_text(errors="replace").splitlines(keepends=True)[-LOG_TAIL_LINES:])
    except FileNotFoundError:
        return f"({log} is missing)\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True, help="the API's URL")
    parser.add_argument("--pid", type=int, required=True, help="the API process started for this stack")
    parser.add_argument("--rpc-url", required=True, help="this stack's chain")
    parser.add_argument("--deployment", type=Path, default=manifest_path("ethereum", "local"),
                        help="this stack's deployment record (default: where `ape run deploy` records it)")
    parser.add_argument("--log", type=Path, required=True, help="the API's log, shown on failure")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the API")
    args = parser.parse_args(argv)
    try:
        wait_for_api(args.api, args.pid, args.timeout)
        deployment = live_deployment(args.rpc_url, args.deployment)
        check_serves(args.api, args.rpc_url, deployment)
    except StackError as err:
        print(f"error: {err}\n--- last lines of {args.log} ---\n{log_tail(args.log)}", file=sys.stderr)
        return 1
    print(f"API up on {args.api}: chain {deployment.chain_id} at {args.rpc_url}, ledger {deployment.address('ledger')} "
          f"(deployment record {args.deployment})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
