"""The probe that runs ON THE HOST: sent on stdin to `<python> - WORK_DIR`, it prints one JSON document.

Standard library only and Python 3.6 syntax: it must run on whatever Python a host has, torch or not. It
imports nothing of easeml_gui. CUDA is asked of torch in this very process (drivers installed but CUDA invisible
to Python is a common silent failure), and nvidia-smi is asked which processes hold each GPU.
"""

import json
import os
import platform
import pwd
import shutil
import subprocess
import sys


def torch_report():
    try:
        import torch
    except ModuleNotFoundError as error:
        return {"torch": None, "torch_missing": True, "torch_error": str(error)}
    except Exception as error:  # installed but broken (missing CUDA libraries, ABI mismatch, ...)
        return {"torch": None, "torch_missing": False, "torch_error": "%s: %s" % (type(error).__name__, error)}
    report = {"torch": torch.__version__, "torch_cuda_build": torch.version.cuda}
    try:
        import torchvision
        report["torchvision"] = torchvision.__version__
    except Exception as error:
        report["torchvision"] = None
        report["torchvision_error"] = "%s: %s" % (type(error).__name__, error)
    cuda = {"available": False, "devices": []}
    try:
        cuda["available"] = bool(torch.cuda.is_available())
        for i in range(torch.cuda.device_count() if cuda["available"] else 0):
            props = torch.cuda.get_device_properties(i)
            free, total = torch.cuda.mem_get_info(i)
            uuid = str(getattr(props, "uuid", "") or "")
            cuda["devices"].append({
                "cuda_index": i, "name": props.name, "total_mib": total // 2**20, "free_mib": free // 2**20,
                "uuid": uuid if not uuid or uuid.startswith("GPU-") else "GPU-" + uuid,
            })
    except Exception as error:
        cuda["error"] = "%s: %s" % (type(error).__name__, error)
    report["cuda"] = cuda
    return report


def owner(pid):
    try:
        return pwd.getpwuid(os.stat("/proc/%d" % pid).st_uid).pw_name
    except (OSError, KeyError):
        pass
    try:
        out = subprocess.run(["ps", "-o", "user=", "-p", str(pid)], stdout=subprocess.PIPE, timeout=10)
        return out.stdout.decode().strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def smi(query, kind):
    out = subprocess.run(["nvidia-smi", "--query-%s=%s" % (kind, query), "--format=csv,noheader,nounits"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.decode(errors="replace").strip() or "exit status %d" % out.returncode)
    return [[cell.strip() for cell in line.split(",")] for line in out.stdout.decode().splitlines() if line.strip()]


def nvidia_report():
    if shutil.which("nvidia-smi") is None:
        return {"nvidia_smi": False, "gpus": []}
    try:
        gpus = [{"index": int(i), "uuid": u, "name": n, "total_mib": int(t), "used_mib": int(m), "processes": []}
                for i, u, n, t, m in smi("index,uuid,name,memory.total,memory.used", "gpu")]
        by_uuid = {g["uuid"]: g for g in gpus}
        for uuid, pid, used in smi("gpu_uuid,pid,used_memory", "compute-apps"):
            if uuid in by_uuid:
                by_uuid[uuid]["processes"].append({
                    "pid": int(pid), "user": owner(int(pid)), "used_mib": int(used) if used.isdigit() else None})
    except Exception as error:
        return {"nvidia_smi": True, "gpus": [], "nvidia_smi_error": "%s: %s" % (type(error).__name__, error)}
    return {"nvidia_smi": True, "gpus": gpus}


def disk_report(work_dir):
    path = os.path.abspath(os.path.expanduser(work_dir))
    while not os.path.exists(path):  # the work folder may not exist yet: its disk is its nearest parent's
        path = os.path.dirname(path)
    usage = shutil.disk_usage(path)
    return {"work_dir": work_dir, "checked": path, "free_mib": usage.free // 2**20, "total_mib": usage.total // 2**20}


def main():
    report = {
        "python": platform.python_version(), "executable": sys.executable, "user": pwd.getpwuid(os.getuid()).pw_name,
        "hostname": platform.node(), "cpus": os.cpu_count(), "load": list(os.getloadavg()),
        "disk": disk_report(sys.argv[1] if len(sys.argv) > 1 else "~"),
    }
    report.update(nvidia_report())
    report.update(torch_report())
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":  # `python -` runs it as __main__; importing it here does nothing
    main()
