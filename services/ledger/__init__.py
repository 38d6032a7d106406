"""The runs ledger: lineage from a Crafter score back to the model, job, config, dataset and filter."""
