"""Everything that touches untrusted code: the bubblewrap sandbox and its cgroup, archive
extraction, wheels and virtualenvs, the test run. Never imports github or service: code that
handles pull request content cannot reach credentials by import."""
