"""``python -m labelshare.admin.anvil_probe URL``: exit 0 when an anvil node answers at URL."""

from __future__ import annotations

import json
import sys
import urllib.request


def is_anvil(url: str, timeout: float = 1.0) -> bool:
    body = json.dumps({"jsonrpc": "2.0", "method": "web3_clientVersion", "params": [], "id": 1}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return "anvil" in json.load(response).get("result", "").lower()
    except (OSError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(0 if is_anvil(sys.argv[1]) else 1)
