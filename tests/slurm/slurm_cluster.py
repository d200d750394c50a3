"""A real one-node SLURM cluster on this machine, for the workflow's cluster test.

Debian, as root, no systemd: munged, slurmctld and slurmd are started by hand. State,
spool, logs and pid files live in one temporary folder. slurm.conf and gres.conf must be
in /etc/slurm: Snakemake's job step (snakemake-executor-plugin-slurm-jobstep) drops
SLURM_CONF before its inner srun, so that srun only finds the default path. They are
written only where no slurm.conf exists (a real cluster's is never touched) and removed
on stop. The node has one fake GPU per CPU (gres backed by /dev/null and friends), so sbatch accepts
``--gpus=1`` and the job sees CUDA_VISIBLE_DEVICES=0 without real hardware behind it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
DAEMONS = ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd"]
MUNGE_PID_FILE = Path("/run/munge/munged.pid")
CONF_DIR = Path("/etc/slurm")
# A GPU gres needs one device file per GPU; nothing opens them (TaskPlugin=task/none).
FAKE_GPU_FILES = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]


def why_not_possible() -> str | None:
    """None when this machine can host the cluster, else the reason (for pytest.skip)."""
    if os.name != "posix" or os.geteuid() != 0:
        return "the SLURM cluster test needs root (it installs packages and starts daemons)"
    if not all(Path(d).exists() for d in DAEMONS) and shutil.which("apt-get") is None:
        return "the SLURM cluster test needs apt-get to install slurmctld, slurmd and munge"
    if (CONF_DIR / "slurm.conf").exists():
        return f"{CONF_DIR / 'slurm.conf'} exists: this machine has its own SLURM setup, which the test leaves alone"
    return None


def install_packages() -> None:
    """apt-get the daemons when one of them is missing (about 10 s plus the index update)."""
    if all(Path(d).exists() for d in DAEMONS):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _pid_alive(pid: int) -> bool:
    """Running, and not a zombie (daemons end up under a PID 1 that may not reap them)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


class OneNodeCluster:
    """Start with ``start()``; ``stop()`` ends only the daemons this object started."""

    def __init__(self, min_job_age: int = 300):
        # MinJobAge keeps finished jobs visible to squeue (Snakemake's status command
        # here, as there is no accounting database) and to `scontrol show job`.
        self.min_job_age = min_job_age
        self.root = Path(tempfile.mkdtemp(prefix="slurm-one-node-"))
        self.conf = CONF_DIR / "slurm.conf"
        self.gres_conf = CONF_DIR / "gres.conf"
        self.written: list[Path] = []
        self.host = socket.gethostname().split(".")[0]
        self.started: list[tuple[str, Path]] = []  # (daemon, pid file), in start order

    @property
    def env(self) -> dict[str, str]:
        """Environment for clients (sbatch, squeue, Snakemake) talking to this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write(self, path: Path, text: str) -> None:
        if path.exists():
            raise RuntimeError(f"{path} exists already; not replacing another SLURM setup")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        self.written.append(path)

    def _node_line(self) -> str:
        """The node as slurmd sees it, with 90% of its memory, twice its cores, a fake GPU per core.

        The tiny workflow's jobs spend most of their time starting Python and waiting, not
        computing: two job slots per core (accepted through SlurmdParameters=config_overrides)
        roughly halve the test's wall time on a small machine.
        """
        detected = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True).stdout
        fields = dict(item.split("=", 1) for item in detected.splitlines()[0].split())
        memory_mb = int(int(fields["RealMemory"]) * 0.9)
        cores = 2 * int(fields["CPUs"])
        self.gpus = min(cores, len(FAKE_GPU_FILES))
        return (
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cores} Boards=1 SocketsPerBoard=1 "
            f"CoresPerSocket={cores} ThreadsPerCore=1 RealMemory={memory_mb} "
            f"Gres=gpu:fake:{self.gpus} State=UNKNOWN"
        )

    def write_config(self) -> None:
        for sub in ("state", "spool", "log"):
            (self.root / sub).mkdir()
        self._write(
            self.conf,
            "\n".join(
                [
                    "ClusterName=onenode",
                    f"SlurmctldHost={self.host}(127.0.0.1)",
                    f"SlurmctldPort={_free_port()}",
                    f"SlurmdPort={_free_port()}",
                    # Everything runs as root: the state folder sits in a root-only temp dir.
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    "SlurmdParameters=config_overrides",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "ReturnToService=2",
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={self.root / 'slurmctld.pid'}",
                    f"SlurmdPidFile={self.root / 'slurmd.pid'}",
                    f"SlurmctldLogFile={self.root / 'log' / 'slurmctld.log'}",
                    f"SlurmdLogFile={self.root / 'log' / 'slurmd.log'}",
                    "SchedulerType=sched/backfill",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    # Without it a job without --mem takes the whole node's memory.
                    "DefMemPerCPU=1000",
                    "GresTypes=gpu",
                    "AccountingStorageType=accounting_storage/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "JobCompType=jobcomp/none",
                    f"MinJobAge={self.min_job_age}",
                    self._node_line(),
                    "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            ),
        )
        # slurmd 22.05 drops a GPU gres without File= (the node then goes INVAL).
        gres = "\n".join(
            f"NodeName={self.host} Name=gpu Type=fake File={device}" for device in FAKE_GPU_FILES[: self.gpus]
        )
        self._write(self.gres_conf, f"AutoDetect=off\n{gres}\n")

    def _start_munged(self) -> None:
        if MUNGE_PID_FILE.exists() and _pid_alive(int(MUNGE_PID_FILE.read_text().split()[0])):
            return  # someone else's munged: use it, leave it running
        Path("/run/munge").mkdir(parents=True, exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        # munged refuses to run as root.
        subprocess.run(["runuser", "-u", "munge", "--", "/usr/sbin/munged"], check=True, capture_output=True)
        self.started.append(("munged", MUNGE_PID_FILE))

    def _start(self, daemon: str) -> None:
        subprocess.run([daemon, "-f", str(self.conf)], check=True, capture_output=True, env=self.env)
        self.started.append((Path(daemon).name, self.root / f"{Path(daemon).name}.pid"))

    def start(self, timeout_s: float = 60) -> None:
        self.write_config()
        self._start_munged()
        self._start("/usr/sbin/slurmctld")
        self._start("/usr/sbin/slurmd")
        deadline = time.monotonic() + timeout_s
        state = ""
        while time.monotonic() < deadline:
            probe = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env)
            state = probe.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.5)
        raise RuntimeError(f"the SLURM node did not become idle in {timeout_s} s (state {state!r})\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text()[-3000:]}" for log in sorted((self.root / "log").glob("*.log"))
        )

    def _drain_jobs(self, timeout_s: float = 20) -> None:
        """Cancel what is left in the queue and let its job steps end while slurmd still runs."""
        queued = subprocess.run(["squeue", "-h", "-o", "%i"], capture_output=True, text=True, env=self.env)
        if queued.returncode != 0 or not queued.stdout.split():
            return
        subprocess.run(["scancel", *queued.stdout.split()], capture_output=True, env=self.env)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            active = subprocess.run(
                ["squeue", "-h", "-t", "PENDING,RUNNING,COMPLETING", "-o", "%i"],
                capture_output=True,
                text=True,
                env=self.env,
            )
            if active.returncode != 0 or not active.stdout.strip():
                return
            time.sleep(0.5)

    def _orphan_job_steps(self) -> list[int]:
        """slurmstepd processes of this cluster (their working folder is inside self.root)."""
        pids = []
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                cmdline = (proc / "cmdline").read_bytes()
                cwd = os.readlink(proc / "cwd")
            except OSError:
                continue
            if cmdline.startswith(b"slurmstepd") and cwd.startswith(str(self.root)) and _pid_alive(int(proc.name)):
                pids.append(int(proc.name))
        return pids

    def stop(self) -> list[str]:
        """Stop the daemons this object started, newest first, by pid; return what was stopped."""
        if any(name == "slurmctld" for name, _ in self.started):
            self._drain_jobs()
        stopped = []
        for name, pid_file in reversed(self.started):
            if not pid_file.exists():
                continue
            pid = int(pid_file.read_text().split()[0])
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            deadline = time.monotonic() + 15
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            stopped.append(f"{name} ({pid})")
        for pid in self._orphan_job_steps():  # a step whose slurmd is gone ignores SIGTERM
            os.kill(pid, signal.SIGKILL)
            stopped.append(f"slurmstepd ({pid})")
        self.started.clear()
        for path in self.written:
            path.unlink(missing_ok=True)
        self.written.clear()
        shutil.rmtree(self.root, ignore_errors=True)
        return stopped
