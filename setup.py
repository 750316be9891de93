"""relaxss-fairseq: Differentiable Scheduled Sampling (Goyal et al., 2017) for fairseq.

fairseq itself is deliberately not a declared dependency: the official
``fairseq==0.12.2`` does not install on Python 3.11, and the working fork
(``fairseq-fixed``) must be installed with ``--no-deps --no-build-isolation``
so that it neither pulls torchaudio nor a second torch.  ``scripts/install.sh``
does all of that; see README.md.
"""
from setuptools import find_packages, setup

setup(
    name="relaxss-fairseq",
    version="0.1.0",
    description="Differentiable scheduled sampling for credit assignment, as a fairseq plugin",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # relaxss: the fairseq-free core; relaxss_fairseq: the fairseq plugin around it
    packages=find_packages(include=["relaxss", "relaxss.*", "relaxss_fairseq", "relaxss_fairseq.*"]),
    python_requires=">=3.9",
    install_requires=["torch>=2.6", "numpy"],
    extras_require={
        "test": ["pytest", "scipy"],
    },
    license="MIT",
)
