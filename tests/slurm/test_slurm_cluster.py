"""The workflow on a real one-node SLURM cluster, with the shipped profiles/slurm.

Needs root and apt-get (Debian): installs slurmctld, slurmd and munge when missing, starts
them for this module and stops them by pid afterwards, also when a test fails. About two
to three minutes on 2 cores.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import subprocess
import threading
import time

import pytest
import torch
from conftest import REPO, SNAKEFILE, SNAKEMAKE, TINY_CONFIG, copy_checkout, planned_jobs, snakemake
from slurm_cluster import OneNodeCluster, install_packages, why_not_possible

from mosaicfocus.runplan import resources

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

SLURM_PROFILE = REPO / "profiles" / "slurm"
# Only what this throwaway cluster needs on top of the profile: it has no accounting
# database, so job status comes from squeue (kept valid by MinJobAge=300), and the
# first status check comes after 1 s instead of 40 s.
CLUSTER_FLAGS = [
    "--workflow-profile",
    str(SLURM_PROFILE),
    "--slurm-status-command",
    "squeue",
    "--slurm-init-seconds-before-status-checks",
    "1",
]
MODEL_GROUP = "rule_model_evaluate_train"  # the comment the plugin gives a train+evaluate job
TINY_IMAGES = 300  # per dataset: half of tests/config/tiny.yaml's 600 mosaics


def model_time_limit(epochs: int, attempt: int = 1) -> str:
    """SLURM's TimeLimit of a model job: its training, then its ten evaluations, one after the other."""
    minutes = resources.train_runtime(epochs, TINY_IMAGES, True, attempt) + resources.evaluate_runtime(
        10 * TINY_IMAGES, attempt
    )
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


@pytest.fixture(scope="module")
def cluster():
    reason = why_not_possible()
    if reason:
        pytest.skip(reason)
    install_packages()
    one_node = OneNodeCluster()
    try:
        one_node.start()
        yield one_node
    finally:
        print("stopped:", ", ".join(one_node.stop()) or "nothing")


def submitted_jobs(cluster: OneNodeCluster, output: str) -> dict[str, dict[str, str]]:
    """SLURM's own record of every job this Snakemake run submitted: jobid -> fields."""
    jobs = {}
    for jobid in re.findall(r"has been submitted with SLURM jobid (\d+)", output):
        shown = subprocess.run(
            ["scontrol", "show", "job", "--oneliner", jobid], capture_output=True, text=True, check=True
        ).stdout
        jobs[jobid] = dict(re.findall(r"(\S+?)=(\S*)", shown))
    return jobs


def job_kind(job: dict[str, str]) -> str:
    """The rule or group of a job from the comment the plugin gives it, without the
    wildcard values it appends ("rule_datasets_wildcards__" for empty ones)."""
    return re.sub(r"_wildcards_.*$", "", job["Comment"])


def by_comment(jobs: dict[str, dict[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in jobs.values():
        counts[job_kind(job)] = counts.get(job_kind(job), 0) + 1
    return counts


@pytest.fixture(scope="module")
def cluster_run(cluster, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm_run")
    result = snakemake(workdir, *CLUSTER_FLAGS, extra_env=cluster.env)
    output = result.stdout + result.stderr
    return workdir, submitted_jobs(cluster, output)


def report_count(capsys, what: str, jobs: dict[str, dict[str, str]]) -> None:
    """The job count goes to the terminal even when pytest captures output."""
    with capsys.disabled():
        print(f"\n{what}: {len(jobs)} SLURM jobs submitted {by_comment(jobs)}")


def test_cluster_run_submits_one_job_per_model_with_a_gpu(cluster_run, capsys):
    workdir, jobs = cluster_run
    report_count(capsys, "full run on the cluster", jobs)
    assert by_comment(jobs) == {
        "rule_source_images": 1,
        "rule_mosaics": 1,
        "rule_datasets": 1,
        MODEL_GROUP: 9,
        "rule_report": 1,
    }
    # The memory the rules computed from the files each job reads: a model job asks for the
    # larger of its training's and its evaluation's.
    data = workdir / "results" / "data"
    dataset_mb = [(data / f"dataset_{j}.pt").stat().st_size / resources.MB for j in range(1, 11)]
    model_mem = max(resources.train_mem_mb(max(dataset_mb[:9])), resources.evaluate_mem_mb(max(dataset_mb)))
    for job in jobs.values():
        assert job["JobState"] == "COMPLETED", job
        gpu_request = job.get("TresPerJob", "")
        if job_kind(job) == MODEL_GROUP:
            assert gpu_request == "gres:gpu:1", job
            assert job["TimeLimit"] == model_time_limit(epochs=30), job
            assert f",mem={model_mem}M" in job["TRES"], job
        else:
            assert "gpu" not in gpu_request, job
    report = next(job for job in jobs.values() if job_kind(job) == "rule_report")
    assert report["TRES"].startswith(f"cpu=1,mem={resources.report_mem_mb()}M"), report


def test_cluster_run_matches_the_local_run(cluster_run, tiny_run):
    workdir, _ = cluster_run
    local = tiny_run / "results"
    remote = workdir / "results"
    assert (remote / "accuracy.csv").read_bytes() == (local / "accuracy.csv").read_bytes()
    for focus in range(1, 10):
        assert (remote / "models" / f"loss_{focus}.tsv").read_bytes() == (
            local / "models" / f"loss_{focus}.tsv"
        ).read_bytes()
        ours = torch.load(remote / "models" / f"model_{focus}.pt", weights_only=True)
        theirs = torch.load(local / "models" / f"model_{focus}.pt", weights_only=True)
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[name], theirs[name]) for name in ours), focus
    assert len(list((remote / "eval").glob("train*_test*.json"))) == 90


def cancel_first_running_model_job(stop: threading.Event) -> list[str]:
    """Cancel one running model job, as a preemption or node failure would end it."""
    cancelled: list[str] = []
    while not stop.is_set() and not cancelled:
        running = subprocess.run(
            ["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"], capture_output=True, text=True
        ).stdout.split("\n")
        for line in running:
            jobid, _, comment = line.partition(" ")
            if comment.strip() == MODEL_GROUP:
                subprocess.run(["scancel", jobid], check=True)
                cancelled.append(jobid)
                break
        time.sleep(0.5)
    return cancelled


def test_new_training_parameter_resubmits_only_affected_jobs_and_retries_a_lost_one(cluster, cluster_run, capsys):
    workdir, _ = cluster_run
    command = [
        *SNAKEMAKE,
        "--snakefile",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--cores",
        "2",
        "--configfile",
        str(TINY_CONFIG),
        *CLUSTER_FLAGS,
        "--config",
        "train={epochs: 3}",
    ]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cluster.env)
    stop = threading.Event()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        cancelling = pool.submit(cancel_first_running_model_job, stop)
        try:
            output, _ = run.communicate(timeout=600)
        finally:
            stop.set()
            if run.poll() is None:
                run.kill()
        cancelled = cancelling.result()
    assert run.returncode == 0, output[-6000:]
    jobs = submitted_jobs(cluster, output)
    report_count(capsys, "rerun after train.epochs 30 -> 3, one model job cancelled", jobs)

    # Only the 9 model jobs and the report, plus the resubmission of the cancelled one.
    assert len(cancelled) == 1
    assert by_comment(jobs) == {MODEL_GROUP: 10, "rule_report": 1}
    assert jobs[cancelled[0]]["JobState"] == "CANCELLED"
    finished = [job for jobid, job in jobs.items() if jobid != cancelled[0]]
    assert all(job["JobState"] == "COMPLETED" for job in finished)
    time_limits = sorted(job["TimeLimit"] for job in finished if job_kind(job) == MODEL_GROUP)
    # The second attempt gets twice the time.
    assert time_limits == [model_time_limit(epochs=3)] * 8 + [model_time_limit(epochs=3, attempt=2)]
    losses = (workdir / "results" / "models" / "loss_5.tsv").read_text().splitlines()
    assert len(losses) == 1 + 3  # header and three epochs


def test_a_two_point_sweep_submits_shared_data_jobs_and_a_model_job_per_point_and_model(cluster, tmp_path, capsys):
    """The two learning rates share the data jobs and train their 18 models as 18 group jobs,
    which the scheduler runs side by side as slots allow."""
    sweep = ("--config", "sweep={train.lr: [0.02, 0.05]}", "train={epochs: 3}")
    result = snakemake(tmp_path, *CLUSTER_FLAGS, *sweep, extra_env=cluster.env)
    jobs = submitted_jobs(cluster, result.stdout + result.stderr)
    report_count(capsys, "2-point sweep on the cluster", jobs)
    assert by_comment(jobs) == {
        "rule_source_images": 1,
        "rule_mosaics": 1,
        "rule_datasets": 1,
        MODEL_GROUP: 18,
        "rule_report": 2,
    }
    assert all(job["JobState"] == "COMPLETED" for job in jobs.values())
    tidy = (tmp_path / "results" / "sweep" / "accuracy.csv").read_text().splitlines()
    assert len(tidy) == 1 + 2 * 90


def wait_for_waiting_model_jobs(run: subprocess.Popen, timeout_s: float = 300) -> list[str]:
    """squeue's lines once a model job is queued or running (the run still going)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and run.poll() is None:
        lines = subprocess.run(["squeue", "-h", "-o", "%i %T %k"], capture_output=True, text=True).stdout.splitlines()
        if any(line.split()[-1] == MODEL_GROUP for line in lines if line.strip()):
            return lines
        time.sleep(0.2)
    raise AssertionError("no model job was ever queued or running while the run went on")


def test_an_edit_while_jobs_wait_changes_nothing_they_run_and_the_next_run_reruns_it(cluster, tmp_path, capsys):
    """Snakemake starts each cluster job as a Snakemake of its own that parses the workflow
    again on the node. Edited meanwhile, the network and the training script must not reach
    the jobs already planned: they run the code frozen when the run started. The next
    invocation sees the edit and reruns the model jobs and what follows, nothing of the data."""
    checkout = copy_checkout(tmp_path / "checkout")
    workdir = tmp_path / "run"
    epochs = ("--config", "train={epochs: 3}")
    command = [
        *SNAKEMAKE,
        *("--snakefile", str(checkout / "Snakefile"), "--directory", str(workdir), "--cores", "2"),
        *("--configfile", str(TINY_CONFIG), *CLUSTER_FLAGS, *epochs),
    ]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cluster.env)
    try:
        waiting = wait_for_waiting_model_jobs(run)
        model = checkout / "src" / "mosaicfocus" / "what_network" / "model.py"
        model.write_text(model.read_text().replace("nn.Conv2d(3, 6, 5)", "nn.Conv2d(3, 6, 5, bias=False)"))
        script = checkout / "workflow" / "scripts" / "train.py"
        script.write_text('raise RuntimeError("a job ran the code edited after it was planned")\n' + script.read_text())
        output, _ = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            run.kill()
    with capsys.disabled():
        print(f"\nedited while these SLURM jobs waited or ran: {waiting}")
    assert run.returncode == 0, output[-6000:]
    models = workdir / "results" / "models"
    digests = set()
    for focus in range(1, 10):
        weights = torch.load(models / f"model_{focus}.pt", weights_only=True)
        assert "conv1.bias" in weights, f"model {focus} was built by the edited network"
        digests.add(json.loads((models / f"model_{focus}.json").read_text())["meta"]["code"]["train"]["digest"])
    assert len(digests) == 1, digests
    planned = snakemake(workdir, "-n", *CLUSTER_FLAGS, *epochs, snakefile=checkout / "Snakefile", extra_env=cluster.env)
    assert planned_jobs(planned.stdout + planned.stderr) == {
        "train": 9,
        "evaluate": 9,
        "report": 1,
        "study": 1,
        "all": 1,
    }
