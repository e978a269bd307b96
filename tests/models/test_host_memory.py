"""glibc told to keep freed memory (p7keras.models.steps.host_memory): JAX's step buffers reused instead of mapped
and faulted in anew every step; nothing changed when the user set glibc's own variables, or off glibc."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")

# A 48 MB block malloc'ed, written and freed ten times (as XLA's CPU runtime does a step's buffers): without the
# setting glibc maps it afresh each time and its pages fault in anew; with it the block is reused.
_FAULTS = """
import ctypes, ctypes.util, resource, sys
if sys.argv[1] == "keep":
    from p7keras.models.steps.host_memory import keep_freed_host_memory
    print(keep_freed_host_memory(), keep_freed_host_memory())  # idempotent
libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype, libc.malloc.argtypes, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_size_t], [ctypes.c_void_p]
size = 48 << 20

def block():
    pointer = libc.malloc(size)
    ctypes.memset(pointer, 1, size)
    libc.free(pointer)

block()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    block()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 10)
"""


def _faults(mode: str, **env) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", _FAULTS, mode], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**environment, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.split()


@linux
@pytest.mark.one_backend
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    (plain,) = _faults("plain")
    kept_once, kept_twice, kept = _faults("keep")
    assert int(plain) > 10_000  # 48 MB = 12,288 pages, faulted in again every time
    assert (kept_once, kept_twice) == ("True", "True")
    assert int(kept) < 100


@linux
@pytest.mark.one_backend
def test_the_users_own_malloc_settings_stand():
    returned, _, faults = _faults("keep", MALLOC_TRIM_THRESHOLD_="131072")
    assert returned == "False" and int(faults) > 10_000


def test_the_jax_step_sets_it():
    import keras  # noqa: PLC0415

    if keras.backend.backend() != "jax" or not sys.platform.startswith("linux"):
        pytest.skip("the JAX step's setting, on Linux")
    import p7keras.models.steps  # noqa: F401, PLC0415 (p7keras' JAX step)
    from p7keras.models.steps import host_memory  # noqa: PLC0415

    assert host_memory.keep_freed_host_memory.cache_info().currsize == 1  # set by the JAX step
    assert host_memory.keep_freed_host_memory() is (not any(name in os.environ for name in host_memory.USER_SETTINGS))

