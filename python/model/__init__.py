"""egenerator.model: sources, multi-sources, distributions, the builder and component save/load.

Main entry points::

    from egenerator.model.builder import build_model          # config tree -> Source
    from egenerator.model.component_io import save_component, load_component
    from egenerator.model.source.oracle import build_oracle   # the simulator's exact likelihood
"""
