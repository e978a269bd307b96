"""Memory across trials: the RSS after each of the 27 priority-1 trials (tiny model, 1 epoch).

JAX and PyTorch run every trial in one process and stay flat. Keras 3 on TensorFlow keeps memory of
every model it has trained (about 35 MiB a trial of this model; ``clear_session`` and ``gc.collect``
do not release it, keras-team/keras#17458), so there the search runs 5 trials per fresh process by
default: the RSS is bounded and does not trend up.
"""

import pytest

from tuner.config import SearchConfig
from tuner.search import run_search
from tuner.tuners import read_events

from tests.tuner.conftest import MODEL, SYNTHETIC

# backend-independent here: the backends' own paths are tested in tests/models, tests/callbacks and tests/serve
pytestmark = pytest.mark.one_backend

# Largest RSS spread over the 27 trials, and largest rise from the third trial (the first ones load
# compilers and caches) to the last.
SPREAD_MIB = 200
TREND_MIB = 100


@pytest.mark.slow
def test_rss_stays_flat_over_the_27_trial_grid(tmp_path):
    config = SearchConfig(grid="priority1", directory=str(tmp_path / "tuning"),
                          train={**MODEL, **SYNTHETIC, "output_dir": str(tmp_path / "models")})
    result = run_search(config)
    assert result.completed == 27
    ends = [e for e in read_events(result.project_dir) if e["event"] == "end"]
    rss = [e["rss_mib"] for e in ends]
    assert len(rss) == 27
    print(f"RSS after trials 1, 3, 27: {rss[0]:.1f}, {rss[2]:.1f}, {rss[-1]:.1f} MiB; min {min(rss):.1f}, "
          f"max {max(rss):.1f}; {len({e['pid'] for e in ends})} process(es)")
    assert max(rss) - min(rss) < SPREAD_MIB, rss
    assert rss[-1] - rss[2] < TREND_MIB, rss
