"""`grade validate`'s proof of an assignment's misconceptions against its variant catalogue.

Statically (always, cheap): misconceptions.py and variants.py import; every misconception asks
about tests that exist and is declared by at least one variant (`Case.diagnoses`); every
declared diagnosis names a misconception.

By grading (`grade validate --variants`): every variant's edits still apply; every run of the catalogue is graded; a bug must
lose points exactly where it says and get exactly its declared diagnoses (each misconception
is then diagnosed on a variant that makes that mistake, and no variant gets a wrong one); the
correct alternatives (and the solution, graded by validate itself) get full marks and none.

Callers: grader.authoring.validate. Calls grader.authoring.variants, grader.course and
grader.judge.pipeline (to grade).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from grader.authoring.variants import (
    BadCatalogue,
    Case,
    EditDoesNotApply,
    alternative_problems,
    bug_problems,
    diagnosed,
    diagnosis_problems,
    load_catalogue,
    write_variant,
)
from grader.course.assignment import Assignment
from grader.course.misconceptions import BadMisconceptions, load_misconceptions


@dataclass
class Proof:
    """What the proof found: problems, one line each, and the closing numbers."""

    problems: list[str] = field(default_factory=list)
    declared: int = 0  # misconceptions
    variants: int = 0  # bugs + alternatives in the catalogue
    graded: bool = False
    diagnosed: set[str] = field(default_factory=set)  # misconceptions found on their own variants
    wrong: int = 0  # diagnoses on a variant that did not declare them
    on_alternatives: int = 0  # diagnoses on correct alternatives

    def summary(self) -> str:
        if not self.declared and not self.variants:
            return ""
        text = f"misconceptions: {self.declared} declared, {self.variants} variants"
        if self.graded:
            text += (f", {len(self.diagnosed)} diagnosed on their variants, {self.wrong} wrong diagnoses, "
                     f"{self.on_alternatives} on correct alternatives")
        return text


def prove(assignment: Assignment, test_names: set[str] | None, grade_variants: bool, sandbox: str = "process",
          on_run: Callable[[str], None] | None = None) -> Proof:
    """Check `assignment`'s catalogue; `test_names` are the solution's graded tests (None when the
    solution could not be graded: the graded part is then skipped)."""
    proof = Proof()
    try:
        misconceptions = load_misconceptions(assignment.root)
    except BadMisconceptions as e:
        proof.problems.append(str(e))
        misconceptions = ()
    try:
        catalogue = load_catalogue(assignment.root)
    except BadCatalogue as e:
        proof.problems.append(str(e))
        return proof
    proof.declared = len(misconceptions)
    if catalogue is None:
        if misconceptions:
            proof.problems.append("misconceptions.py declares misconceptions but there is no variants.py "
                                  "with the variants that make them")
        return proof
    proof.variants = len(catalogue.bugs) + len(catalogue.alternatives)
    names = {m.name for m in misconceptions}
    declared_by = {n for c in catalogue.bugs for n in c.diagnoses}
    for m in misconceptions:
        if m.name not in declared_by:
            proof.problems.append(f"misconception {m.name}: no variant in variants.py declares it "
                                  "(add the variant that makes this mistake, with diagnoses={...})")
        unknown = [t for t in m.tests if test_names is not None and t not in {n.split('[')[0] for n in test_names}]
        if unknown:
            proof.problems.append(f"misconception {m.name}: no such test {', '.join(unknown)}")
    for c in catalogue.bugs + catalogue.alternatives:
        for n in sorted(c.diagnoses - names):
            proof.problems.append(f"variant {c.id}: declares unknown misconception {n}")
        if c.diagnoses and c in catalogue.alternatives:
            proof.problems.append(f"variant {c.id}: a correct alternative cannot declare diagnoses")
    ran = {i for run in catalogue.runs for i in run.id.split("+")}
    for c in catalogue.bugs:
        if c.id not in ran:
            proof.problems.append(f"variant {c.id}: in no grading run (RUNS)")
    if not grade_variants or test_names is None:
        return proof
    with tempfile.TemporaryDirectory(prefix="dlgrade-variants-") as tmp:
        for c in catalogue.runs + catalogue.alternative_runs:
            try:
                write_variant(assignment.solution, c, Path(tmp), catalogue.drop_marker)
            except EditDoesNotApply as e:
                proof.problems.append(f"variant {c.id}: {' '.join(str(e).split())}")
        if proof.problems:
            return proof
        proof.graded = True
        for c in catalogue.runs:
            result = _grade(assignment, c, Path(tmp), catalogue.drop_marker, sandbox, on_run)
            if isinstance(result, str):
                proof.problems.append(f"variant {c.id}: cannot grade: {result}")
                continue
            found = diagnosed(result)
            proof.diagnosed |= found & c.diagnoses
            proof.wrong += len(found - c.diagnoses)
            proof.problems += bug_problems(c, result, test_names) + diagnosis_problems(c, result)
        for c in catalogue.alternative_runs:
            result = _grade(assignment, c, Path(tmp), catalogue.drop_marker, sandbox, on_run)
            if isinstance(result, str):
                proof.problems.append(f"variant {c.id}: cannot grade: {result}")
                continue
            proof.on_alternatives += len(diagnosed(result))
            proof.problems += alternative_problems(c, result)
    return proof


def _grade(assignment: Assignment, case: Case, directory: Path, drop_marker: str | None, sandbox: str,
           on_run: Callable[[str], None] | None) -> Any:
    from grader.course.notebook import BadNotebook, read_notebook
    from grader.judge.pipeline import BadInput, grade

    if on_run:
        on_run(case.id)
    path = write_variant(assignment.solution, case, directory, drop_marker)
    try:
        return grade(read_notebook(path), assignment, notebook_name=path.name, mode="submit", sandbox=sandbox,
                     files_from_notebook=True)
    except (BadNotebook, BadInput) as e:
        return str(e)
