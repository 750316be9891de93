"""The core, ``relaxss``, imports and works without fairseq and without the
plugin's checkpoint allow-list (which ``import relaxss_fairseq`` registers)."""
import subprocess
import sys

from conftest import ROOT

# run in a fresh interpreter: this test session has imported fairseq and the plugin
CORE_ONLY = r"""
import argparse
import importlib
import pkgutil
import sys

import torch

def safe_globals():
    get = getattr(torch.serialization, "get_safe_globals", None)  # torch >= 2.5
    return list(get()) if get is not None else []

load, allowed = torch.load, safe_globals()

import relaxss
for module in pkgutil.walk_packages(relaxss.__path__, "relaxss."):
    importlib.import_module(module.name)
schedule = relaxss.RollinSchedule(rollin="soft_sample", teacher_forcing_final=0.5,
                                  schedule_unit="update", max_update=1000)
schedule.check()
rollin = schedule.rollin_at(2, 500, schedule.generator_for(500))
assert isinstance(rollin, relaxss.Rollin) and 0.5 < rollin.tf_prob < 1.0
fed = relaxss.draw_model_feed(2, 3, rollin.tf_prob, rollin.generator)
relaxss.feed_model_predictions(torch.zeros(2, 3, 4), torch.ones(int(fed.sum()), 4), fed)

leaked = sorted(name for name in sys.modules
                if name.split(".")[0] in ("fairseq", "fairseq_cli", "relaxss_fairseq"))
assert not leaked, leaked
assert torch.load is load, "torch.load was replaced"
assert safe_globals() == allowed, "torch.load's allow-list was changed"
assert argparse.Namespace not in safe_globals()

# the control: the plugin does register the allow-list, so the checks above can fail
import relaxss_fairseq
assert "fairseq" in sys.modules and argparse.Namespace in safe_globals()
print("core imports alone")
"""


def test_the_core_imports_without_fairseq_or_the_checkpoint_allow_list():
    result = subprocess.run([sys.executable, "-c", CORE_ONLY], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "core imports alone" in result.stdout
