"""The Celery configuration that makes jobs survive lost workers and refuses pickles."""

from kcolors.jobs.broker import PROCESS_JOB_TASK, QUEUE, celery_config
from kcolors.jobs.settings import Settings
from worker.celery_app import create_celery_app


def test_config_comes_from_settings():
    settings = Settings(
        broker_url="redis://127.0.0.1:6390/3",
        soft_time_limit=10,
        hard_time_limit=20,
        visibility_timeout=30,
    )
    config = celery_config(settings)
    assert config["broker_url"] == "redis://127.0.0.1:6390/3"
    assert config["broker_transport_options"]["visibility_timeout"] == 30
    assert (config["task_soft_time_limit"], config["task_time_limit"]) == (10, 20)


def test_jobs_survive_lost_workers_and_only_json_is_accepted():
    app = create_celery_app(Settings(broker_url="redis://127.0.0.1:6390/0"))
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_default_queue == QUEUE and conf.task_ignore_result
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit


def test_worker_app_registers_the_job_task():
    from worker.celery_app import app

    app.loader.import_default_modules()
    assert PROCESS_JOB_TASK in app.tasks
