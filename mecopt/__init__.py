"""mecopt: DNN task partitioning and offloading in mobile edge computing.

After Gao et al., *Task Partitioning and Offloading in DNN-Task Enabled MEC
Networks*. Modelling decisions the paper leaves open are documented in
``docs/MODEL.md`` of the repository.
"""

__version__ = "0.1.0"
