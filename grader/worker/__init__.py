"""The untrusted worker: the only code that runs beside student code, inside the sandbox.

`untrusted_worker.py`, `untrusted_model_ops.py` (its trained-model and proof-replay actions),
`wire.py` and `dlgrade_training.py` are copied into the sandbox on their own; they import the
standard library, numpy (and torch where the notebook uses it) and nothing of the grader. Nothing they report is evidence: the
judge validates every reply (grader.judge.worker_reply) and computes every verdict itself.

May call: nothing in grader. Called by: nobody imports the worker; the judge starts it through
grader.sandbox and imports only `wire` (the protocol both sides speak).
"""
