"""``make bench``: reproducible measurements of gas, API throughput and settlement at scale.

Each part writes ``.bench/<part>.json``; ``python -m benchmarks.report`` turns them into
``docs/benchmarks.json`` and ``docs/benchmarks.md`` with the machine they ran on. Benchmarks
measure and report; they never fail on a slow machine (the test suite runs none of them)."""
