"""Grading beyond one machine: `grade batch --cluster SPEC` on Dask.

Owns: parsing the cluster spec and its config file (`spec`), starting or connecting to the
Dask cluster and checking its workers (`connect`: LocalCluster, an existing scheduler, Slurm
through dask-jobqueue), the code that runs on the workers (`worker`, a warm judge per worker
process around grader.batch.job.grade_job), and the batch Runner that submits one task per
submission and yields results as they finish (`runner`).

The driver (grader.batch.driver) still owns the gradebook: workers receive plain bytes and
options and return grade_job's JSON-able dict; only the driver writes. May call:
grader.batch.job, grader.batch.pool (Job), grader.course.assignment, dask/distributed, dask_jobqueue.
"""
