"""Logs: one JSON object per line, carrying the id of the job being handled."""

import json
import logging

import pytest

from kcolors.jobs.logs import configure_logging, job_context


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_the_job_id(capsys, restore_root_logger):
    configure_logging("INFO", "json")
    log = logging.getLogger("kcolors.test")
    log.info("outside")
    with job_context("01JOBID"):
        log.info("stored k=%d", 5, extra={"k": 5})
    log.debug("below the level")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == ["outside", "stored k=5"]
    assert lines[0]["job_id"] is None
    assert lines[1]["job_id"] == "01JOBID" and lines[1]["k"] == 5
    assert lines[1]["level"] == "INFO" and lines[1]["time"].endswith("+00:00")


def test_text_lines_carry_the_job_id_too(capsys, restore_root_logger):
    configure_logging("WARNING", "text")
    with job_context("01OTHER"):
        logging.getLogger("kcolors.test").warning("slow")
    assert "WARNING kcolors.test [01OTHER] slow" in capsys.readouterr().err
