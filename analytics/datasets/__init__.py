"""The datasets in a workspace, as a whole: list, delete, check and repair, erase a customer.

``service`` owns these workspace-wide actions: ``doctor`` checks the catalog against the
per-dataset manifests and rebuilds it when damaged or missing; ``erase`` removes customers from
every frame a dataset holds. Exports ``DoctorReport``, ``EraseReport`` and the functions.
"""

from analytics.datasets.service import (
    DatasetHealth,
    DoctorReport,
    EraseReport,
    delete_dataset,
    doctor,
    erase,
    list_datasets,
    needs_retraining,
)

__all__ = [
    "DatasetHealth",
    "DoctorReport",
    "EraseReport",
    "delete_dataset",
    "doctor",
    "erase",
    "list_datasets",
    "needs_retraining",
]
