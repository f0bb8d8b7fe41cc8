"""`make bench`: throughput, latency and scale of HTX Monitor against raw floors measured in the same run.

See docs/performance.md for what each scenario measures and how; `python -m bench --help` for the options.
"""
