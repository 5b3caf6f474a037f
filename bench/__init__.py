"""The TTFA benchmark behind `scripts/bench` (see docs/BENCHMARK.md).

Modules: `run` (command line and scenarios' orchestration), `scenarios` (S1-S3
texts and drivers), `ha` (entries and strategy variants in a booted core),
`emulator` (the Fish Audio emulator in its own process), `report` (figures,
targets, JSON) and `chart` (docs/bench-s2.png).
"""
