"""Test material made by code, for this project's tests, the benchmarks and users' own tools.

- `corpus`: the generated envelope corpus (each case with the verdict and finding it must
  produce) and the act material it is built from (`minimal_pdf`, `minimal_png`,
  `minimal_jpeg`, `budget_document`, `base_request`, `build`)

Only tests, benchmarks and the command that hands the corpus out (`operator-sim envelope
corpus`) import it: no module that serves, validates or stores may
(tests/test_production_imports.py). The corpus's sender is the commune `operator-sim serve`
registers (`simulator.DEMO_COMMUNE`), so its archives can be submitted to a served simulator.
"""
