"""The trusted judge: grading one submission.

Owns the pipeline of one grading (`pipeline.grade`): start the worker through a sandbox
backend, drive it cell by cell (`session`), answer the tests' calls into student code through
proxies (`remote`, `torch_remote`, `workers_without`), read every worker reply through the one
validating reader (`worker_reply`), keep the text and byte budgets (`budgets`), run the pytest
suites with the judge's fixtures (`pytest_plugin`) and write the result (`results`).

May call: grader.course (reading the assignment and notebook), grader.sandbox (starting the
worker), grader.worker.wire (the protocol), grader.textsafe and grader.outputs.
Called by: the CLI, grader.authoring, grader.batch and grader.cluster.
Never imported by grader.worker or grader.sandbox.
"""
