"""Where no PostgreSQL answers on 127.0.0.1:5432 (a fresh laptop), the tests and `make stack-up`
start a private server of Debian's package instead of skipping: started here for real, on a free
port in a private temporary folder (as pytest's are), then stopped."""

import os
from pathlib import Path

import pytest
import sqlalchemy as sa

from stockwise import stack

pytestmark = [pytest.mark.integration]


def test_a_private_server_starts_answers_and_stops(tmp_path):
    os.chmod(tmp_path, 0o700)  # as pytest's own folders: the server's user cannot reach into it
    st = stack.Stack(home=tmp_path / "home")
    data = stack.pg_data_dir(st)
    port = stack.free_port()
    url = stack.start_private_postgres(data, port)
    try:
        eng = sa.create_engine(url)
        with eng.connect() as c:
            assert c.execute(sa.text("select 1")).scalar() == 1
        eng.dispose()
        assert stack.can_login(url) and url.endswith(f":{port}/postgres")
    finally:
        stack.stop_private_postgres(data)
    assert not stack.answers(port)
    if data.is_relative_to(Path("/tmp")) and "stockwise-pg-" in data.name:
        import shutil

        shutil.rmtree(data, ignore_errors=True)
