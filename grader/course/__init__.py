"""Reading a course: assignments, notebooks, datasets and the helpers its tests use.

Owns assignment.toml parsing and the course root (`assignment`; its tables' checks in
`toml_checks`, `[model]` in `model_settings`, `[model.proof]` in `proof_settings`), reading a submitted notebook
totally and boundedly (`notebook`), the named datasets and their judge-side held-out splits
(`datasets`), local dataset file formats (`loaders`) and the comparison helpers that test
authors import (`testing`).

May call: grader.gradebook.scoring (the late policy's arithmetic), grader.textsafe.
Called by: everyone else; it calls neither the judge nor the sandbox.
"""
