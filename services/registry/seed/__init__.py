"""The demo registry `make run` seeds: generated from a seed (`generator`), on the city of `city`, loaded
through the use cases (`loader`), and measured against plan 219 by `python -m services.registry.seed --summary`."""
