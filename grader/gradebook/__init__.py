"""The gradebook: every submission, grade, per-test result, override, extension and LMS push.

Owns the database schema (`models`), its Alembic migrations (`migrations/`), opening a database
by URL (`db`: SQLite by default, PostgreSQL through psycopg), the pure late-policy and
final-score rules (`scoring`), and the documented read/write API the other subpackages use
(`api`: batch writes one transaction per submission; LMS exports, class reports and the
similarity check read). It calls nothing of the judge; callers: grader.batch, the LMS and
report code, the CLI.
"""
